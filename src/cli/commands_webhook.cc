// cairn webhook create | list | delete | rotate-secret: webhook subscriptions on a server
// (action `admin`). Network only: webhooks are delivered by a running server.
#include <iostream>
#include <memory>

#include "cairn/webhooks.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/connection.h"
#include "cli/errors.h"
#include "cli/utf8.h"
#include "cli/output_json.h"
#include "common/trusted_file.h"

namespace cairn::cli {
namespace {

// A signing secret is whsec_ and base64 of at most 64 bytes; the file may hold a newline.
constexpr size_t kSecretFileSizeBytesMax = 1024;

struct WebhookCreateArgs {
  std::string name, url, stream, secret, secret_file, run_as;
  std::vector<std::string> filter_types, allow_addresses;
  uint64_t from = 0;
  bool from_end = false;
  bool json = false;
};

// Runs `fn` with a connected WebhooksClient; a missing server is a usage error (exit 2).
int WithWebhooks(const std::function<int(const WebhooksClient&)>& fn) {
  auto options = ResolveClientOptions(/*explicit_only=*/false);
  if (!options.ok() && options.status().code() == StatusCode::kNotFound) {
    return UsageError("webhooks live on a server: pass --server HOST:PORT (or use a client config)");
  }
  if (!options.ok()) return UsageError(options.status().message());
  auto client = Client::Connect(*options);
  if (!client.ok()) return Fail(client.status());
  return fn(WebhooksClient(client->get()));
}

Json InfoJson(const v1::WebhookInfo& w) {
  return Json{{"name", w.name()},
              {"url", w.url()},
              {"source", w.source()},
              {"filter_types", std::vector<std::string>(w.filter_types().begin(), w.filter_types().end())},
              {"allow_addresses",
               std::vector<std::string>(w.allow_addresses().begin(), w.allow_addresses().end())},
              {"principal", w.principal()},
              {"run_as", w.run_as()},
              {"created_unix_s", w.created_unix_s()},
              {"position", w.position()},
              {"delivered", w.delivered()},
              {"parked", w.parked()},
              {"last_error", w.last_error()},
              {"secret_version", w.secret_version()}};
}

// The secret of --secret-file: the file's text ("-": standard input) without trailing
// whitespace. A file keeps the secret out of the process list and the shell history, where
// --secret puts it.
Result<std::string> ReadSecretFile(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.resize(kSecretFileSizeBytesMax + 1);  // one byte more tells an oversized input
    std::cin.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(std::cin.gcount()));
    if (text.size() > kSecretFileSizeBytesMax) {
      return Status::InvalidArgument("the secret on standard input is over 1024 bytes");
    }
  } else {
    auto read = ReadPrivateFile(path, "webhook secret file", kSecretFileSizeBytesMax);
    if (!read.ok()) return Status::InvalidArgument(read.status().message());
    text = std::move(read).value();
  }
  while (!text.empty() &&
         (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) {
    text.pop_back();
  }
  if (text.empty()) return Status::InvalidArgument("the secret file is empty");
  return text;
}

// CLI11 check of --secret-file: an empty path (an unset variable) is an error, not "no file".
std::string NonEmptyPath(const std::string& path) {
  return path.empty() ? "--secret-file needs a path ('-': standard input)" : "";
}

// --secret and --secret-file, which exclude each other.
void AddSecretOptions(CLI::App* command, std::string* secret, std::string* secret_file) {
  CLI::Option* inline_secret = command->add_option(
      "--secret", *secret,
      "Signing secret whsec_… (default: generated); visible in the process list: prefer --secret-file");
  command->add_option("--secret-file", *secret_file,
                      "Read the signing secret from this file ('-': standard input)")
      ->check(NonEmptyPath)
      ->excludes(inline_secret);
}

// The secret to send: --secret, else --secret-file's, else "" (the server generates one).
Result<std::string> SecretOf(const std::string& secret, const std::string& secret_file) {
  if (secret_file.empty()) return secret;
  return ReadSecretFile(secret_file);
}

int RunCreate(const WebhookCreateArgs& args) {
  auto secret = SecretOf(args.secret, args.secret_file);
  if (!secret.ok()) return UsageError(secret.status().message());
  v1::CreateWebhookRequest request;
  request.set_name(args.name);
  request.set_url(args.url);
  request.set_source(args.stream);
  for (const auto& t : args.filter_types) request.add_filter_types(t);
  for (const auto& a : args.allow_addresses) request.add_allow_addresses(a);
  request.set_secret(*secret);
  request.set_run_as(args.run_as);
  request.set_from_position(args.from);
  request.set_from_end(args.from_end);
  return WithWebhooks([&](const WebhooksClient& webhooks) {
    auto created = webhooks.Create(request);
    if (!created.ok()) return Fail(created.status());
    // A secret the caller gave is never echoed (it came from a file to stay out of logs).
    const bool generated = secret->empty();
    if (args.json) {
      Json j = InfoJson(created->webhook());
      if (generated) j["secret"] = created->secret();
      std::cout << JsonLine(j) << "\n";
    } else if (generated) {
      std::cout << "webhook " << args.name << " created\n"
                << "secret: " << created->secret() << "\n"
                << "(shown this once: give it to the receiver to verify signatures)\n";
    } else {
      std::cout << "webhook " << args.name << " created with the secret given\n";
    }
    return kExitOk;
  });
}

int RunWebhookList(bool json) {
  return WithWebhooks([&](const WebhooksClient& webhooks) {
    auto list = webhooks.List();
    if (!list.ok()) return Fail(list.status());
    for (const auto& w : list->webhooks()) {
      if (json) {
        std::cout << JsonLine(InfoJson(w)) << "\n";
        continue;
      }
      // Server text: never let it drive the terminal.
      std::cout << TerminalSafe(w.name()) << "  " << TerminalSafe(w.source()) << " -> "
                << TerminalSafe(w.url()) << "  position " << w.position() << "  delivered "
                << w.delivered() << "  parked " << w.parked();
      if (!w.last_error().empty()) std::cout << "  last error: " << TerminalSafe(w.last_error());
      std::cout << "\n";
    }
    return kExitOk;
  });
}

int RunWebhookDelete(const std::string& name) {
  return WithWebhooks([&](const WebhooksClient& webhooks) {
    if (Status s = webhooks.Delete(name); !s.ok()) return Fail(s);
    std::cout << "webhook " << name << " deleted; its secrets are destroyed\n";
    return kExitOk;
  });
}

int RunRotate(const std::string& name, const std::string& secret, uint32_t grace_s, bool json) {
  v1::RotateWebhookSecretRequest request;
  request.set_name(name);
  request.set_secret(secret);
  request.set_grace_s(grace_s);
  return WithWebhooks([&](const WebhooksClient& webhooks) {
    auto rotated = webhooks.RotateSecret(request);
    if (!rotated.ok()) return Fail(rotated.status());
    const bool generated = secret.empty();  // a given secret is never echoed
    if (json) {
      Json j{{"name", name},
             {"secret_version", rotated->secret_version()},
             {"previous_expires_unix_s", rotated->previous_expires_unix_s()}};
      if (generated) j["secret"] = rotated->secret();
      std::cout << JsonLine(j) << "\n";
    } else {
      std::cout << (generated ? "new secret: " + rotated->secret() + "\n(shown this once; t"
                              : std::string("the secret given is in force (t"))
                << "he previous secret also signs until unix time "
                << rotated->previous_expires_unix_s() << ")\n";
    }
    return kExitOk;
  });
}

}  // namespace

void RegisterWebhookCommands(CLI::App& app, CliContext& ctx) {
  CLI::App* webhook = app.add_subcommand("webhook", "Signed webhook subscriptions (on a server)");
  webhook->require_subcommand(1);

  auto create = std::make_shared<WebhookCreateArgs>();
  CLI::App* create_cmd = webhook->add_subcommand(
      "create", "POST each event of a stream (or $all) to an https URL, signed");
  create_cmd->add_option("name", create->name, "Webhook name ([a-z0-9_-], 1..64)")->required();
  create_cmd->add_option("--url", create->url, "Receiver URL (https only)")->required();
  create_cmd->add_option("--stream", create->stream, "Stream id, or '$all'")->required();
  create_cmd->add_option("--filter-type", create->filter_types, "Deliver only these event types");
  AddSecretOptions(create_cmd, &create->secret, &create->secret_file);
  create_cmd->add_option("--allow-address", create->allow_addresses,
                         "Let the SSRF guard pass this private/loopback IP address");
  create_cmd->add_option("--run-as", create->run_as,
                         "Also deliver as this principal (both must allow each event)");
  create_cmd->add_option("--from", create->from, "First log position to deliver")
      ->check(DecimalDigits())
      ->option_text("P");
  create_cmd->add_flag("--from-end", create->from_end, "Deliver only events appended from now on");
  create_cmd->add_flag("--json", create->json, "Print the result as JSON");
  AddConnectionOptions(create_cmd);
  create_cmd->callback([&ctx, create] { ctx.exit_code = RunCreate(*create); });

  auto list_json = std::make_shared<bool>(false);
  CLI::App* list_cmd = webhook->add_subcommand("list", "List webhooks (secrets are never shown)");
  list_cmd->add_flag("--json", *list_json, "Print one JSON object per webhook");
  AddConnectionOptions(list_cmd);
  list_cmd->callback([&ctx, list_json] { ctx.exit_code = RunWebhookList(*list_json); });

  auto delete_name = std::make_shared<std::string>();
  CLI::App* delete_cmd = webhook->add_subcommand("delete", "Stop a webhook and destroy its secrets");
  delete_cmd->add_option("name", *delete_name, "Webhook name")->required();
  AddConnectionOptions(delete_cmd);
  delete_cmd->callback([&ctx, delete_name] { ctx.exit_code = RunWebhookDelete(*delete_name); });

  struct RotateArgs {
    std::string name, secret, secret_file;
    uint32_t grace_s = 0;
    bool json = false;
  };
  auto rotate = std::make_shared<RotateArgs>();
  CLI::App* rotate_cmd = webhook->add_subcommand(
      "rotate-secret", "New signing secret; the previous one keeps signing for a grace period");
  rotate_cmd->add_option("name", rotate->name, "Webhook name")->required();
  AddSecretOptions(rotate_cmd, &rotate->secret, &rotate->secret_file);
  rotate_cmd->add_option("--grace", rotate->grace_s,
                         "Seconds the previous secret still signs (default: the server's)")
      ->check(DecimalDigits());
  rotate_cmd->add_flag("--json", rotate->json, "Print the result as JSON");
  AddConnectionOptions(rotate_cmd);
  rotate_cmd->callback([&ctx, rotate] {
    auto secret = SecretOf(rotate->secret, rotate->secret_file);
    ctx.exit_code = secret.ok() ? RunRotate(rotate->name, *secret, rotate->grace_s, rotate->json)
                                : UsageError(secret.status().message());
  });
}

}  // namespace cairn::cli
