// cairn witness serve: a C2SP tlog-witness (https://c2sp.org/tlog-witness) that logs push their
// checkpoints to (POST /add-checkpoint). For each log it follows (--log-key, the log's verifier
// key; its name is the log's origin) it keeps the latest checkpoint it cosigned in the state
// directory, and cosigns a new one only when a consistency proof leads to it from that one
// (integrity/witness.h). The kept note is replaced atomically and durably before the answer.
//
// The admin listener's hardened server (server/admin_http.h): plain HTTP by default, since what
// a witness receives and answers is public and signed; HTTPS with --tls-cert and --tls-key (and
// client certificates required with --tls-client-ca). A listen address outside loopback needs
// --allow-cidr.
// One process per state directory (an flock on <state-dir>/.lock).
#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <vector>

#include "cli/anchor_files.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/errors.h"
#include "cli/witness_key.h"
#include "common/bytes.h"
#include "common/log.h"
#include "common/wall_clock.h"
#include "crypto/sha256.h"
#include "crypto/x509.h"
#include "integrity/checkpoint.h"
#include "integrity/witness.h"
#include "server/admin_http.h"
#include "server/cidr.h"
#include "server/tls_credentials.h"

namespace cairn::cli {
namespace {

constexpr size_t kWitnessLogsMax = 1024;
constexpr size_t kWitnessStateNoteBytesMax = 64 * 1024;
constexpr size_t kEvidenceFilesMax = 1000;

struct WitnessServeArgs {
  std::string key_file;
  std::vector<std::string> log_keys;
  std::string state_dir;
  std::string listen = "127.0.0.1:7410";
  std::vector<std::string> allow_cidrs;
  std::string tls_cert;       // with tls_key: HTTPS
  std::string tls_key;
  std::string tls_client_ca;  // client certificates required, issued by this CA
};

// The logs a witness follows, and what it cosigned for each (one file per origin).
class WitnessState {
 public:
  WitnessState(std::string dir, integrity::NoteSigner cosigner,
               std::map<std::string, std::vector<integrity::NoteVerifier>> logs)
      : dir_(std::move(dir)), cosigner_(std::move(cosigner)), logs_(std::move(logs)) {}

  // Runs on the HTTP server's one loop thread: requests are decided and persisted one at a time.
  server::HttpResponse AddCheckpoint(std::string_view body) {
    auto request = integrity::ParseAddCheckpoint(body);
    if (!request.ok()) return Text(400, request.status().message());
    auto origin = integrity::CheckpointNoteOrigin(request->checkpoint);
    if (!origin.ok()) return Text(400, origin.status().message());
    const auto log = logs_.find(*origin);
    if (log == logs_.end()) return Text(404, "this witness does not follow that log");
    const std::string path = PathFor(*origin);
    auto kept = ReadKeptCheckpoint(path, kWitnessStateNoteBytesMax);
    if (!kept.ok()) return Internal("reading the witness state failed", kept.status());
    std::optional<integrity::WitnessedTree> last;
    if (!kept->empty()) {
      auto tree = TreeOf(*kept);
      if (!tree.ok()) return Internal("the witness state is damaged", tree.status());
      last = *tree;
    }
    integrity::WitnessAnswer answer = integrity::WitnessAddCheckpoint(
        *request, log->second, last, cosigner_, static_cast<uint64_t>(NowUnixSeconds()));
    if (answer.http_status == 200 && answer.next != last) {  // a replay rewrites nothing
      auto replaced = ReplaceKeptCheckpoint(path, *kept, request->checkpoint);
      if (!replaced.ok() || !*replaced) {
        return Internal("persisting the witness state failed",
                        replaced.ok() ? Status::Aborted("changed meanwhile") : replaced.status());
      }
      log::Info("cosigned a checkpoint", {.action = "witness.cosign",
                                          .outcome = "success",
                                          .extra = {{"log.origin", *origin},
                                                    {"tree.size", std::to_string(answer.next->size)}}});
    } else if (answer.fork) {
      // Two checkpoints of one size signed by the log with different roots: kept as evidence.
      const std::string kept_as = KeepEvidence(*kept, request->checkpoint);
      log::Error("the log signed another tree of the size this witness holds (a fork)",
                 {.action = "witness.cosign",
                  .outcome = "failure",
                  .extra = {{"log.origin", *origin},
                            {"http.status", std::to_string(answer.http_status)},
                            {"old.size", std::to_string(request->old_size)},
                            {"evidence.file", kept_as}}});
    } else if (answer.http_status == 409) {
      log::Info("told a log its size", {.action = "witness.cosign",
                                        .outcome = "failure",
                                        .extra = {{"log.origin", *origin},
                                                  {"old.size", std::to_string(request->old_size)}}});
    }
    return server::HttpResponse{answer.http_status, answer.content_type, std::move(answer.body)};
  }

 private:
  static server::HttpResponse Text(int status, std::string message) {
    return server::HttpResponse{status, "text/plain; charset=utf-8", std::move(message) + "\n"};
  }
  static server::HttpResponse Internal(std::string_view what, const Status& status) {
    log::Error(what, {.action = "witness.cosign",
                      .outcome = "failure",
                      .extra = {{"error.message", status.message()}}});
    return Text(500, "the witness cannot answer now");
  }
  // Writes both signed checkpoints, the kept one and the one that contradicts it, to
  // <dir>/evidence/<unix ms>-<sha256 prefix>.fork (at most kEvidenceFilesMax files: beyond,
  // nothing more is kept; the same pair is kept once); its path, or why it was not kept.
  std::string KeepEvidence(std::string_view kept, std::string_view other) const {
    const std::string body = "kept:\n" + std::string(kept) + "\nconflicting:\n" + std::string(other);
    const std::string dir = dir_ + "/evidence";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    size_t files = 0;
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++files;
    }
    if (ec) return "not kept: " + ec.message();
    if (files >= kEvidenceFilesMax) return "not kept: the evidence directory is full";
    const std::string hash = HexEncode(crypto::Sha256(body)).substr(0, 16);
    for (auto it = std::filesystem::directory_iterator(dir, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().find(hash) != std::string::npos) return it->path().string();
    }
    const std::string path = dir + "/" + std::to_string(NowUnixMs()) + "-" + hash + ".fork";
    Status written = crypto::WritePrivateFile(path, body);
    return written.ok() ? path : "not kept: " + written.message();
  }
  // The file name is the hex SHA-256 of the origin: origins hold '/' and other characters.
  std::string PathFor(const std::string& origin) const {
    return dir_ + "/" + HexEncode(crypto::Sha256(origin)) + ".checkpoint";
  }
  static Result<integrity::WitnessedTree> TreeOf(const std::string& note) {
    const size_t text_end = note.find("\n\n");
    if (text_end == std::string::npos) return Status::DataLoss("no note text");
    CAIRN_ASSIGN_OR_RETURN(integrity::Checkpoint checkpoint,
                           integrity::ParseCheckpoint(std::string_view(note).substr(0, text_end + 1)));
    return integrity::WitnessedTree{checkpoint.size, checkpoint.root};
  }

  std::string dir_;
  integrity::NoteSigner cosigner_;
  std::map<std::string, std::vector<integrity::NoteVerifier>> logs_;
};

Result<std::map<std::string, std::vector<integrity::NoteVerifier>>> ParseLogKeys(
    const std::vector<std::string>& texts) {
  if (texts.empty()) return Status::InvalidArgument("give at least one --log-key");
  if (texts.size() > kWitnessLogsMax) return Status::InvalidArgument("more than 1024 --log-key");
  std::map<std::string, std::vector<integrity::NoteVerifier>> logs;
  for (const std::string& text : texts) {
    auto key = integrity::ParseVerifierKey(text);
    if (!key.ok()) return Status::InvalidArgument("--log-key: " + key.status().message());
    logs[key->name].push_back(std::move(key).value());  // the key's name is the log's origin
  }
  return logs;
}

// Holds an exclusive flock on <dir>/.lock for the process's life; false if another holds it.
Result<int> LockStateDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create the state directory " + dir + ": " + ec.message());
  const int fd = ::open((dir + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("cannot open " + dir + "/.lock");
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return Status::FailedPrecondition("another witness serves the state directory " + dir);
  }
  return fd;
}

int RunWitnessServe(const WitnessServeArgs& args) {
  auto logs = ParseLogKeys(args.log_keys);
  if (!logs.ok()) return UsageError(logs.status().message());
  auto cidrs = server::CidrSet::Parse(args.allow_cidrs);
  if (!cidrs.ok()) return UsageError("--allow-cidr: " + cidrs.status().message());
  auto cosigner = ReadCosignerKeyFile(args.key_file);
  if (!cosigner.ok()) return Fail(cosigner.status());
  auto lock = LockStateDir(args.state_dir);
  if (!lock.ok()) return Fail(lock.status());

  server::AdminHttpOptions options;
  options.listen = args.listen;
  options.request_body_bytes_max = integrity::kAddCheckpointBodyBytesMax;
  if (!args.tls_cert.empty()) {
    server::TlsSection tls;
    tls.cert = args.tls_cert;
    tls.key = args.tls_key;
    tls.client_ca = args.tls_client_ca;
    tls.require_client_cert = !args.tls_client_ca.empty();
    auto context = server::MakeAdminTlsContext(tls);
    if (!context.ok()) return Fail(context.status());
    options.tls = std::move(context).value();
  }
  if (!cidrs->empty()) {
    options.allow_peer = [set = *cidrs](std::string_view ip) {
      return server::IsLoopbackHost(ip) || set.ContainsText(ip);
    };
  } else {
    options.allow_peer = [](std::string_view ip) { return server::IsLoopbackHost(ip); };
  }
  auto state = std::make_shared<WitnessState>(args.state_dir, std::move(cosigner).value(),
                                              std::move(logs).value());
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before the loop thread starts
  auto http = server::AdminHttpServer::Start(
      options, {{"/healthz", [] { return server::HttpResponse{200, "text/plain; charset=utf-8", "ok\n"}; }}},
      {{"/add-checkpoint", [state](std::string_view body) { return state->AddCheckpoint(body); }}});
  if (!http.ok()) return Fail(http.status());
  std::cout << "witness listening on port " << (*http)->port() << "\n" << std::flush;
  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  (*http)->Stop();
  ::close(*lock);
  return kExitOk;
}

}  // namespace

void RegisterWitnessServe(CLI::App* witness, CliContext& ctx) {
  auto args = std::make_shared<WitnessServeArgs>();
  CLI::App* cmd = witness->add_subcommand(
      "serve", "Serve C2SP tlog-witness add-checkpoint: cosign logs' consistent checkpoints");
  cmd->add_option("--key-file", args->key_file, "The witness's cosigner key (`cairn witness keygen`)")
      ->required()
      ->option_text("FILE");
  cmd->add_option("--log-key", args->log_keys,
                  "A followed log's verifier key (its name is the log's origin); repeat")
      ->required()
      ->option_text("KEY");
  cmd->add_option("--state-dir", args->state_dir,
                  "Where the latest cosigned checkpoint of each log is kept")
      ->required()
      ->option_text("DIR");
  cmd->add_option("--listen", args->listen, "ipv4:port or [ipv6]:port (default 127.0.0.1:7410)");
  cmd->add_option("--allow-cidr", args->allow_cidrs,
                  "Peers outside loopback that may connect (CIDR); repeat")
      ->option_text("CIDR");
  cmd->add_option("--tls-cert", args->tls_cert, "Serve HTTPS with this PEM certificate chain")
      ->option_text("FILE");
  cmd->add_option("--tls-key", args->tls_key, "The PEM private key of --tls-cert (mode 0600)")
      ->option_text("FILE");
  cmd->add_option("--tls-client-ca", args->tls_client_ca,
                  "Require client certificates issued by this PEM CA")
      ->option_text("FILE");
  cmd->callback([&ctx, args] {
    if (args->tls_cert.empty() != args->tls_key.empty()) {
      ctx.exit_code = UsageError("--tls-cert and --tls-key go together");
      return;
    }
    if (!args->tls_client_ca.empty() && args->tls_cert.empty()) {
      ctx.exit_code = UsageError("--tls-client-ca needs --tls-cert and --tls-key");
      return;
    }
    // Outside loopback the allowlist decides who may connect at all.
    const auto listen = server::ParseHostPort(args->listen);
    if (!args->allow_cidrs.empty() || (listen.ok() && server::IsLoopbackHost(listen->host))) {
      ctx.exit_code = RunWitnessServe(*args);
    } else {
      ctx.exit_code = UsageError("--listen outside loopback needs --allow-cidr");
    }
  });
}

}  // namespace cairn::cli
