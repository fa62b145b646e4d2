// cairn read / read-all: print events of one stream or of the whole log. Reads larger than the
// engine's per-call limit are paged here.
#include <algorithm>
#include <iostream>
#include <cstdint>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/remote_store.h"
#include "cli/errors.h"
#include "cli/event_printer.h"

namespace cairn::cli {
namespace {

inline constexpr uint64_t kDefaultLimit = 100;

struct ReadArgs {
  std::string data_dir;
  std::string stream;  // read only
  std::string from;    // empty: the start (or the end, backwards)
  std::string limit = std::to_string(kDefaultLimit);
  bool backwards = false;
  bool json = false;
};

struct ReadRange {
  uint64_t from = 0;
  uint64_t limit = 0;  // UINT64_MAX when unlimited
};

// Parses --from / --limit; 0 as limit means "no limit".
Result<ReadRange> ParseRange(const ReadArgs& args, uint64_t default_from) {
  ReadRange range{default_from, 0};
  if (!args.from.empty()) {
    CAIRN_ASSIGN_OR_RETURN(range.from, ParseU64(args.from, "--from"));
  }
  CAIRN_ASSIGN_OR_RETURN(range.limit, ParseU64(args.limit, "--limit"));
  if (range.limit == 0) range.limit = UINT64_MAX;
  return range;
}

uint64_t PageSize(uint64_t remaining) {
  return std::min<uint64_t>(remaining, engine::Limits{}.read_events_max);
}

// Next version to read after `last` in `direction`; nullopt at the stream's start.
std::optional<uint64_t> NextVersion(uint64_t last, engine::Direction direction) {
  if (direction == engine::Direction::kForwards) return last + 1;
  if (last == 0) return std::nullopt;
  return last - 1;
}

// A page of a stream the server read whole but showed nothing of (every event of a type the
// caller may not read) is empty without being the end: the next page starts `scanned` versions
// further. Backwards from the end, where the first version is not known, it is asked for.
std::optional<uint64_t> SkipHiddenPage(engine::EventStore& store, const std::string& stream,
                                       uint64_t from, uint64_t scanned,
                                       engine::Direction direction) {
  if (direction == engine::Direction::kForwards) {
    if (from > UINT64_MAX - scanned) return std::nullopt;
    return from + scanned;
  }
  if (from == UINT64_MAX) {
    auto info = store.GetStreamInfo(stream);
    if (!info.ok() || !info->exists) return std::nullopt;
    from = info->last_version;
  }
  if (from < scanned) return std::nullopt;
  return from - scanned;
}

int ReadStream(engine::EventStore& store, const ReadArgs& args, ReadRange range) {
  const auto direction = args.backwards ? engine::Direction::kBackwards
                                        : engine::Direction::kForwards;
  EventPrinter printer(args.json);
  uint64_t from = range.from, remaining = range.limit;
  while (remaining > 0) {
    const uint64_t want = PageSize(remaining);
    auto page = store.ReadStream(args.stream, from, direction, want);
    if (!page.ok()) return Fail(page.status(), args.stream);
    printer.Print(page->events);
    remaining -= std::min<uint64_t>(remaining, page->events.size());
    if (page->end_of_stream) break;
    std::optional<uint64_t> next =
        page->events.empty()
            ? SkipHiddenPage(store, args.stream, from, want, direction)
            : NextVersion(page->events.back().entry.stream_version, direction);
    if (!next) break;
    from = *next;
  }
  return kExitOk;
}

int ReadAll(engine::EventStore& store, const ReadArgs& args, ReadRange range) {
  EventPrinter printer(args.json);
  uint64_t from = range.from, remaining = range.limit;
  const uint64_t end = store.tree_size();  // once: over the network it is a call
  if (end == 0) {
    // An empty log, or (over the network, where tree_size() cannot fail) a server that could
    // not be asked: one read says which, so a refused login is not an empty answer.
    auto probe = store.ReadAll(from, 1);
    if (!probe.ok()) return Fail(probe.status());
  }
  while (remaining > 0 && from < end) {
    const uint64_t want = PageSize(std::min(remaining, end - from));
    auto page = store.ReadAll(from, want);
    if (!page.ok()) return Fail(page.status());
    if (page->empty()) {  // over the network: every event of the range was filtered out
      from += want;
      continue;
    }
    printer.Print(*page);
    remaining -= std::min<uint64_t>(remaining, page->size());
    from = page->back().entry.position + 1;
  }
  return kExitOk;
}

int RunRead(const CliContext& ctx, const ReadArgs& args, bool all) {
  const uint64_t default_from = (!all && args.backwards) ? UINT64_MAX : 0;
  auto range = ParseRange(args, default_from);
  if (!range.ok()) return UsageError(range.status().message());
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  const int rc_read = all ? ReadAll(*store, args, *range) : ReadStream(*store, args, *range);
  // Over the network, events the caller may not read are left out: say so.
  if (auto* remote = dynamic_cast<RemoteEventStore*>(store.get());
      remote != nullptr && remote->filtered_events() > 0) {
    std::cerr << "cairn: " << remote->filtered_events()
              << " event(s) not shown: no read grant for their event type\n";
  }
  return rc_read;
}

void AddCommonReadOptions(CLI::App* cmd, ReadArgs* args) {
  cmd->add_option("--limit", args->limit, "Maximum number of events (0: no limit)")
      ->capture_default_str();
  cmd->add_flag("--json", args->json,
                "One JSON object per event with every entry field and the stored bytes");
  AddDataDirOption(cmd, &args->data_dir);
}

}  // namespace

void RegisterReadCommands(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<ReadArgs>();
  CLI::App* read = app.add_subcommand("read", "Read the events of a stream");
  read->add_option("stream", args->stream, "Stream id")->required();
  read->add_option("--from", args->from,
                   "First stream version to read (default: first, or last with --backwards)");
  read->add_flag("--backwards", args->backwards, "Read from newest to oldest");
  AddCommonReadOptions(read, args.get());
  read->callback([&ctx, args] { ctx.exit_code = RunRead(ctx, *args, /*all=*/false); });

  auto all_args = std::make_shared<ReadArgs>();
  CLI::App* all = app.add_subcommand("read-all", "Read the whole log in position order");
  all->add_option("--from", all_args->from, "First global position to read (default 0)");
  AddCommonReadOptions(all, all_args.get());
  all->callback([&ctx, all_args] { ctx.exit_code = RunRead(ctx, *all_args, /*all=*/true); });
}

}  // namespace cairn::cli
