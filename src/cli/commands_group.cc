// cairn group create | update | delete | list | replay-parked | connect: consumer groups on a
// server (docs/consumers.md). Administration needs action `admin`; connect needs `subscribe` on
// the group's source. Network only: groups are run by a server.
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <memory>

#include "cairn/groups.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/errors.h"
#include "cli/utf8.h"
#include "cli/event_printer.h"
#include "cli/output_json.h"
#include "server/wire_convert.h"

namespace cairn::cli {
namespace {

struct GroupArgs {
  std::string name, stream;
  std::vector<std::string> filter_types, filter_prefixes, filter_type_prefixes;
  uint64_t from = 0;
  uint32_t max_in_flight = 0, retry_limit = 0, ack_timeout_ms = 0;
  std::vector<std::string> consumers;  // --consumer: who may join (empty: anyone with subscribe)
  bool any_consumer = false;           // update --any-consumer: clear the list
  bool json = false;
};

struct ConnectArgs {
  std::string name;
  bool json = false;
  uint64_t count = 0;  // 0: until the stream ends
  int64_t idle_ms = 0;  // 0: wait for ever
  uint32_t max_in_flight = 0;
  std::vector<std::string> nack_park_types;
};

// Runs `fn` with a connected client; a missing server is a usage error (exit 2).
int WithGroups(const std::function<int(const Groups&)>& fn) {
  auto options = ResolveClientOptions(/*explicit_only=*/false);
  if (!options.ok() && options.status().code() == StatusCode::kNotFound) {
    return UsageError("groups live on a server: pass --server HOST:PORT (or use a client config)");
  }
  if (!options.ok()) return UsageError(options.status().message());
  auto client = Client::Connect(*options);
  if (!client.ok()) return Fail(client.status());
  return fn(Groups(**client));
}

Json StatusJson(const v1::GroupStatus& g) {
  const v1::GroupSettings& s = g.settings();
  return Json{{"name", s.name()},
              {"source", s.source()},
              {"filter_types", std::vector<std::string>(s.filter().event_types().begin(),
                                                        s.filter().event_types().end())},
              {"filter_prefixes", std::vector<std::string>(s.filter().stream_prefixes().begin(),
                                                           s.filter().stream_prefixes().end())},
              {"filter_type_prefixes", std::vector<std::string>(s.event_type_prefixes().begin(),
                                                                s.event_type_prefixes().end())},
              {"start_position", s.start_position()},
              {"max_in_flight", s.max_in_flight()},
              {"retry_limit", s.retry_limit()},
              {"ack_timeout_ms", s.ack_timeout_ms()},
              {"allowed_consumers", std::vector<std::string>(s.consumers().begin(), s.consumers().end())},
              {"done_below", g.done_below()},
              {"read_position", g.read_position()},
              {"consumers", g.consumers()},
              {"in_flight", g.in_flight()},
              {"acked", g.acked()},
              {"parked", g.parked()},
              {"skipped", g.skipped()},
              {"unauthorized_waiting", g.unauthorized_waiting()},
              {"replay_pending", g.replay_pending()},
              {"withdrawn", g.withdrawn()},
              {"stalled", g.stalled()}};
}

int RunCreate(const GroupArgs& args) {
  v1::GroupSettings s;
  s.set_name(args.name);
  s.set_source(args.stream);
  for (const auto& t : args.filter_types) s.mutable_filter()->add_event_types(t);
  for (const auto& p : args.filter_prefixes) s.mutable_filter()->add_stream_prefixes(p);
  for (const auto& p : args.filter_type_prefixes) s.add_event_type_prefixes(p);
  s.set_start_position(args.from);
  s.set_max_in_flight(args.max_in_flight);
  s.set_retry_limit(args.retry_limit);
  s.set_ack_timeout_ms(args.ack_timeout_ms);
  for (const auto& c : args.consumers) s.add_consumers(c);
  return WithGroups([&](const Groups& groups) {
    if (Status st = groups.Create(s); !st.ok()) return Fail(st);
    if (!args.json) std::cout << "group " << args.name << " created\n";
    if (args.json) std::cout << JsonLine(Json{{"name", args.name}, {"created", true}}) << "\n";
    return kExitOk;
  });
}

// Update changes only the tuning values: the rest comes from the group as it is.
int RunUpdate(const GroupArgs& args) {
  return WithGroups([&](const Groups& groups) {
    auto list = groups.List();
    if (!list.ok()) return Fail(list.status());
    for (const v1::GroupStatus& g : list->groups()) {
      if (g.settings().name() != args.name) continue;
      v1::GroupSettings s = g.settings();
      if (args.max_in_flight != 0) s.set_max_in_flight(args.max_in_flight);
      if (args.retry_limit != 0) s.set_retry_limit(args.retry_limit);
      if (args.ack_timeout_ms != 0) s.set_ack_timeout_ms(args.ack_timeout_ms);
      if (args.any_consumer || !args.consumers.empty()) {
        s.clear_consumers();
        for (const auto& c : args.consumers) s.add_consumers(c);
      }
      if (Status st = groups.Update(s); !st.ok()) return Fail(st);
      std::cout << "group " << args.name << " updated\n";
      return kExitOk;
    }
    return Fail(Status::NotFound("group '" + args.name + "' does not exist"));
  });
}

int RunList(bool json) {
  return WithGroups([&](const Groups& groups) {
    auto list = groups.List();
    if (!list.ok()) return Fail(list.status());
    for (const v1::GroupStatus& g : list->groups()) {
      if (json) {
        std::cout << JsonLine(StatusJson(g)) << "\n";
        continue;
      }
      std::cout << TerminalSafe(g.settings().name()) << "  source "
                << TerminalSafe(g.settings().source()) << "  done below "
                << g.done_below() << "  consumers " << g.consumers() << "  in flight "
                << g.in_flight() << "  parked " << g.parked() << "  replay pending "
                << g.replay_pending() << "\n";
    }
    return kExitOk;
  });
}

int RunDelete(const std::string& name) {
  return WithGroups([&](const Groups& groups) {
    if (Status st = groups.Delete(name); !st.ok()) return Fail(st);
    std::cout << "group " << name << " deleted ($parked-" << name << " stays)\n";
    return kExitOk;
  });
}

int RunReplay(const std::string& name) {
  return WithGroups([&](const Groups& groups) {
    auto pending = groups.ReplayParked(name);
    if (!pending.ok()) return Fail(pending.status());
    std::cout << *pending << " parked event(s) queued for replay to group " << name << "\n";
    return kExitOk;
  });
}

bool ShouldPark(const ConnectArgs& args, const std::string& type) {
  for (const auto& t : args.nack_park_types) {
    if (t == type) return true;
  }
  return false;
}

// SIGINT and SIGTERM, blocked in every thread (construct before the client starts any) and
// polled between deliveries, so that `connect` ends cleanly: nothing half-printed is acked.
class PendingStopSignals {
 public:
  PendingStopSignals() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
  }
  ~PendingStopSignals() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  PendingStopSignals(const PendingStopSignals&) = delete;
  PendingStopSignals& operator=(const PendingStopSignals&) = delete;
  bool Arrived() {
    const timespec now{0, 0};
    return sigtimedwait(&signals_, nullptr, &now) > 0;
  }

 private:
  sigset_t signals_, previous_;
};

// How long one wait for a delivery lasts at most: the reaction time to Ctrl-C.
constexpr int64_t kConnectPollMs = 1000;

// Prints each event and acks it once it is written out (or nacks it with park for
// --nack-park-type). An event that cannot be written is nacked for redelivery, never acked.
int RunConnect(const ConnectArgs& args) {
  PendingStopSignals signals;
  return WithGroups([&](const Groups& groups) {
    auto stream = groups.Connect(args.name, args.max_in_flight);
    if (!stream.ok()) return Fail(stream.status());
    EventPrinter printer(args.json);
    uint64_t handled = 0;
    int64_t idle_ms = 0;
    while (args.count == 0 || handled < args.count) {
      if (signals.Arrived()) break;  // Close() below: unacked deliveries go back to the group
      const int64_t wait_ms =
          args.idle_ms > 0 ? std::min(kConnectPollMs, args.idle_ms - idle_ms) : kConnectPollMs;
      auto next = (*stream)->Next(wait_ms);
      if (!next.ok()) return Fail(next.status());
      if (!*next) {
        idle_ms += wait_ms;
        if (args.idle_ms > 0 && idle_ms >= args.idle_ms) break;  // idle for --idle-ms: done
        continue;
      }
      idle_ms = 0;
      const v1::GroupEvent& delivered = **next;
      auto event = server::FromWire(delivered.event());
      if (!event.ok()) return Fail(event.status());
      Status sent;
      if (ShouldPark(args, event->entry.event_type)) {
        sent = (*stream)->Nack({delivered.ack_id()}, v1::NACK_PARK, "parked by cairn group connect");
      } else {
        printer.Print({*event});
        if (!std::cout.flush()) {  // a full disk, a closed pipe: the event is not handled
          (void)(*stream)->Nack({delivered.ack_id()}, v1::NACK_RETRY, "cairn group connect could not write it");
          (void)(*stream)->Close();
          return Fail(Status::IOError("writing an event to standard output failed; it was not acknowledged"));
        }
        sent = (*stream)->Ack({delivered.ack_id()});
      }
      if (!sent.ok()) return Fail(sent);
      ++handled;
    }
    if (Status s = (*stream)->Close(); !s.ok()) return Fail(s);
    return kExitOk;
  });
}

void AddTuningOptions(CLI::App* cmd, GroupArgs* args) {
  cmd->add_option("--max-in-flight", args->max_in_flight, "Unacked events per consumer (default 16)")
      ->check(DecimalDigits());
  cmd->add_option("--retry-limit", args->retry_limit, "Deliveries before parking (default 5)")
      ->check(DecimalDigits());
  cmd->add_option("--ack-timeout-ms", args->ack_timeout_ms,
                  "Redeliver an unacked event after this long (default 30000)")
      ->check(DecimalDigits());
  cmd->add_option("--consumer", args->consumers,
                  "Only these principals may join (patterns as in policy bindings: "
                  "apikey:billing, jwt:svc-billing-*); default: anyone with subscribe on the source")
      ->option_text("PRINCIPAL ...");
}

void RegisterAdminCommands(CLI::App* group, CliContext& ctx) {
  auto create = std::make_shared<GroupArgs>();
  CLI::App* create_cmd = group->add_subcommand("create", "Create a consumer group (action admin)");
  create_cmd->add_option("name", create->name, "Group name ([A-Za-z0-9._-], 1..64)")->required();
  create_cmd->add_option("--stream", create->stream, "Stream id, or '$all'")->required();
  create_cmd->add_option("--filter-type", create->filter_types, "Deliver only these event types");
  create_cmd->add_option("--filter-prefix", create->filter_prefixes,
                         "Deliver only streams starting with these prefixes");
  create_cmd->add_option("--filter-type-prefix", create->filter_type_prefixes,
                         "Deliver only event types starting with these prefixes (or of a "
                         "--filter-type)");
  create_cmd->add_option("--from", create->from, "First log position to deliver")
      ->check(DecimalDigits())
      ->option_text("P");
  AddTuningOptions(create_cmd, create.get());
  create_cmd->add_flag("--json", create->json, "Print the result as JSON");
  AddConnectionOptions(create_cmd);
  create_cmd->callback([&ctx, create] { ctx.exit_code = RunCreate(*create); });

  auto update = std::make_shared<GroupArgs>();
  CLI::App* update_cmd = group->add_subcommand(
      "update",
      "Change max in-flight, retry limit, ack timeout or consumers of a group (action admin)");
  update_cmd->add_flag("--any-consumer", update->any_consumer,
                       "Let anyone with subscribe on the source join again (clears --consumer)");
  update_cmd->add_option("name", update->name, "Group name")->required();
  AddTuningOptions(update_cmd, update.get());
  AddConnectionOptions(update_cmd);
  update_cmd->callback([&ctx, update] { ctx.exit_code = RunUpdate(*update); });

  auto list_json = std::make_shared<bool>(false);
  CLI::App* list_cmd = group->add_subcommand("list", "List groups and their positions (action admin)");
  list_cmd->add_flag("--json", *list_json, "Print one JSON object per group");
  AddConnectionOptions(list_cmd);
  list_cmd->callback([&ctx, list_json] { ctx.exit_code = RunList(*list_json); });

  auto delete_name = std::make_shared<std::string>();
  CLI::App* delete_cmd = group->add_subcommand("delete", "Delete a group (action admin)");
  delete_cmd->add_option("name", *delete_name, "Group name")->required();
  AddConnectionOptions(delete_cmd);
  delete_cmd->callback([&ctx, delete_name] { ctx.exit_code = RunDelete(*delete_name); });

  auto replay_name = std::make_shared<std::string>();
  CLI::App* replay_cmd = group->add_subcommand(
      "replay-parked", "Deliver the group's parked events again (action admin)");
  replay_cmd->add_option("name", *replay_name, "Group name")->required();
  AddConnectionOptions(replay_cmd);
  replay_cmd->callback([&ctx, replay_name] { ctx.exit_code = RunReplay(*replay_name); });
}

}  // namespace

void RegisterGroupCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* group = app.add_subcommand("group", "Consumer groups (persistent subscriptions)");
  group->require_subcommand(1);
  RegisterAdminCommands(group, ctx);

  auto connect = std::make_shared<ConnectArgs>();
  CLI::App* connect_cmd = group->add_subcommand(
      "connect", "Join a group as a consumer: print each event and ack it");
  connect_cmd->add_option("name", connect->name, "Group name")->required();
  connect_cmd->add_flag("--json", connect->json, "Print one JSON object per event");
  connect_cmd->add_option("--count", connect->count, "Stop after N events")
      ->check(DecimalDigits());
  connect_cmd->add_option("--idle-ms", connect->idle_ms, "Stop when no event came for N ms")
      ->check(DecimalDigits());
  connect_cmd->add_option("--max-in-flight", connect->max_in_flight,
                          "Unacked events at a time (default: the group's)")
      ->check(DecimalDigits());
  connect_cmd->add_option("--nack-park-type", connect->nack_park_types,
                          "Park events of these types instead of acking them");
  AddConnectionOptions(connect_cmd);
  connect_cmd->callback([&ctx, connect] { ctx.exit_code = RunConnect(*connect); });
}

}  // namespace cairn::cli
