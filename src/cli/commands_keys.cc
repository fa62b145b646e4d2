// cairn keys list | rotate --storage | --subject ID | --kek: key administration (action `admin`
// over the network). Works offline on a data directory (with DIR/cairn.toml's [keys]) or against
// a server, like every store command.
#include <ctime>
#include <iostream>
#include <memory>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/data_dir.h"
#include "cli/errors.h"
#include "cli/offline_audit.h"
#include "cli/utf8.h"
#include "cli/output_json.h"
#include "common/wall_clock.h"

namespace cairn::cli {
namespace {

struct KeysListArgs {
  std::string data_dir;
  bool json = false;
};

struct KeysRotateArgs {
  std::string data_dir;
  bool storage = false;
  std::string subject;
  bool kek = false;
  bool json = false;
};

std::string Created(int64_t unix_s) {
  return unix_s == 0 ? "-" : UnixSecondsUtcText(unix_s);
}

constexpr size_t kKeysListPageKeys = 1000;

void PrintKey(const engine::KeyInfo& k, bool json) {
  if (json) {
    Json j{{"kind", k.kind}, {"id", k.id}, {"version", k.version},
           {"created_unix_s", k.created_unix_s}, {"current", k.current}};
    if (k.kind == "subject") j["subject_hash"] = k.subject_hash_hex;
    std::cout << JsonLine(j) << "\n";
  } else if (k.kind == "storage") {
    std::cout << "storage epoch " << TerminalSafe(k.id) << (k.current ? "  (current)" : "") << "\n";
  } else {
    std::cout << "subject " << TerminalSafe(k.subject_hash_hex.substr(0, 16)) << "…  "
              << TerminalSafe(k.id) << "  v"
              << k.version << "  created " << Created(k.created_unix_s)
              << (k.current ? "  (current)" : "") << "\n";
  }
}

int RunKeysList(const CliContext& ctx, const KeysListArgs& args) {
  int rc = kExitOk;
  auto store = OpenOrReport(ctx, args.data_dir, &rc);
  if (!store) return rc;
  // A page at a time: a store with millions of subjects is listed in bounded memory.
  std::string token;
  do {
    auto page = store->ListKeys(token, kKeysListPageKeys);
    if (!page.ok()) return Fail(page.status());
    for (const engine::KeyInfo& k : page->keys) PrintKey(k, args.json);
    token = std::move(page->next_page_token);
  } while (!token.empty());
  return kExitOk;
}

// Rotates as `args` says and prints the result; the act's outcome and details go to `act`.
int RotateAndPrint(engine::EventStore& store, const KeysRotateArgs& args, OfflineAct* act) {
  if (args.kek) {
    auto rotation = store.RotateKek();
    act->outcome = rotation.status();
    if (!rotation.ok()) return Fail(rotation.status());
    act->details = {{"kek_id", rotation->kek_id},
                    {"rewrapped", std::to_string(rotation->rewrapped)},
                    {"old_kek_kept", rotation->old_kek_kept ? "true" : "false"},
                    {"unreadable_secrets", std::to_string(rotation->unreadable_secrets)}};
    if (args.json) {
      std::cout << JsonLine(Json{{"kind", "kek"},
                                 {"id", rotation->kek_id},
                                 {"rewrapped", rotation->rewrapped},
                                 {"resumed", rotation->resumed},
                                 {"old_kek_kept", rotation->old_kek_kept},
                                 {"unreadable_secrets", rotation->unreadable_secrets}})
                << "\n";
    } else {
      std::cout << (rotation->resumed ? "finished an interrupted KEK rotation: " : "new KEK ")
                << TerminalSafe(rotation->kek_id) << ": " << rotation->rewrapped << " wrapped keys re-wrapped; "
                << (rotation->unreadable_secrets > 0
                        ? "older KEK versions kept: " + std::to_string(rotation->unreadable_secrets) +
                              " webhook secret(s) did not unwrap under any KEK version (the server "
                              "log names them); delete or re-create those webhooks, then run "
                              "`cairn keys rotate --kek` again to retire the old versions\n"
                    : rotation->old_kek_kept
                        ? "older KEK versions kept (several nodes share this log): restart the "
                          "other nodes, then run `cairn keys rotate --kek` again to retire them\n"
                        : std::string("older KEK versions retired\n"));
    }
  } else if (args.storage) {
    auto epoch = store.RotateStorageKey();
    act->outcome = epoch.status();
    if (!epoch.ok()) return Fail(epoch.status());
    act->details = {{"epoch", std::to_string(*epoch)}};
    if (args.json) {
      std::cout << JsonLine(Json{{"kind", "storage"}, {"id", std::to_string(*epoch)}}) << "\n";
    } else {
      std::cout << "storage epoch " << *epoch
                << " started: new records are encrypted under it; older epochs stay readable\n";
    }
  } else {
    auto kid = store.RotateSubjectKey(args.subject);
    act->outcome = kid.status();
    if (!kid.ok()) return Fail(kid.status());
    if (args.json) {
      std::cout << JsonLine(Json{{"kind", "subject"}, {"id", *kid}}) << "\n";
    } else {
      std::cout << "new subject key version " << TerminalSafe(*kid)
                << ": the subject's new events use it; older events stay readable\n";
    }
  }
  return kExitOk;
}

int RunKeysRotate(const CliContext& ctx, const KeysRotateArgs& given) {
  if (int{given.storage} + int{!given.subject.empty()} + int{given.kek} != 1) {
    return UsageError("give exactly one of --storage, --subject ID, --kek");
  }
  KeysRotateArgs args = given;
  if (!args.subject.empty()) {
    auto subject = SubjectArg(args.subject);
    if (!subject.ok()) return UsageError(subject.status().message());
    args.subject = std::move(subject).value();
  }
  int rc = kExitOk;
  std::string offline_dir;  // empty when a server does (and audits) the act
  auto store = OpenOrReport(ctx, args.data_dir, &rc, &offline_dir);
  if (!store) return rc;
  OfflineAct act{"key.rotate", "", Status::Ok(), {}};
  if (!offline_dir.empty()) {
    act.resource = args.kek ? "kek" : args.storage ? "storage" : OfflineSubjectResource(*store, args.subject);
  }
  rc = RotateAndPrint(*store, args, &act);
  if (offline_dir.empty()) return rc;
  const bool rotated = act.outcome.ok();
  const Status audited = AuditOfflineAct(store.get(), offline_dir, std::move(act));
  if (!audited.ok() && rotated) {
    return Fail(audited.Annotate("the key was rotated, but the audit record of the rotation was not written"));
  }
  return rc;
}

}  // namespace

void RegisterKeysCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* keys = app.add_subcommand(
      "keys", "Key administration: list and rotate keys, change the keyring passphrase");
  keys->require_subcommand(1);

  auto list = std::make_shared<KeysListArgs>();
  CLI::App* list_cmd = keys->add_subcommand(
      "list", "List storage epochs and subject key versions (subjects only as salted hashes)");
  list_cmd->add_flag("--json", list->json, "Print one JSON object per key");
  AddDataDirOption(list_cmd, &list->data_dir);
  list_cmd->callback([&ctx, list] { ctx.exit_code = RunKeysList(ctx, *list); });

  auto rotate = std::make_shared<KeysRotateArgs>();
  CLI::App* rotate_cmd = keys->add_subcommand("rotate", "Rotate a key; old data stays readable");
  rotate_cmd->add_flag("--storage", rotate->storage,
                       "Start a new storage epoch (records from the next position on)");
  rotate_cmd->add_option("--subject", rotate->subject,
                         "Start a new key version for this subject's new events (@FILE / @-: read the id from a file or stdin)")
      ->option_text("ID");
  rotate_cmd->add_flag("--kek", rotate->kek,
                       "New key-encryption key version; re-wrap every key under it");
  rotate_cmd->add_flag("--json", rotate->json, "Print the result as JSON");
  AddDataDirOption(rotate_cmd, &rotate->data_dir);
  rotate_cmd->callback([&ctx, rotate] { ctx.exit_code = RunKeysRotate(ctx, *rotate); });
  RegisterKeysPassphraseCommand(*keys, ctx);
}

}  // namespace cairn::cli
