// The in-process server of the append and read fuzz targets: the real StreamsService behind the
// real CallGate (API key authentication, a fixed policy, an audit trail with data_plane = "all"
// whose writer only counts records) over a real EventStore with protection rules, in a temp
// directory of its own. Calls go over plaintext gRPC on a loopback port the kernel picks
// (127.0.0.1:0): an in-process channel has no peer address, which the CallGate rightly refuses
// ("peer address not allowed"), and the gate has no test hook to bypass.
//
// The fixed identity is "apikey:fuzz": it may append and read every stream (system ones too, so
// the engine's own refusals are reached), may not read events of type "Hidden" (reads filter
// them) and has read.pii only on streams "pii-*"; protected event types are "Customer"
// (subject /customerId) and "Payment" (subject from the append).
//
// Nothing is written outside the temp directory, which Stop() removes. Thread safety: one
// fuzzing thread drives it; gRPC and the engine run their own threads inside.
#pragma once

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "audit/trail.h"
#include "auth/authenticator.h"
#include "cairn/v1/streams.grpc.pb.h"
#include "common/bytes.h"
#include "crypto/sha256.h"
#include "engine/event_store.h"
#include "fuzz_util.h"
#include "policy/holder.h"
#include "policy/parse.h"
#include "server/call_audit.h"
#include "server/call_gate.h"
#include "server/cidr.h"
#include "server/streams_service.h"

namespace cairn::fuzz {

inline constexpr std::string_view kFuzzPolicy = R"(
[[role]]
name = "fuzz"
grants = [
  { actions = ["append", "read", "subscribe", "delete", "proof"], streams = ["*", "$*"], event_types = ["*"] },
  { actions = ["read.pii"], streams = ["pii-*"], event_types = ["*"] },
]
denies = [ { actions = ["read"], streams = ["*"], event_types = ["Hidden"] } ]

[[binding]]
principal = "apikey:fuzz"
roles = ["fuzz"]
)";

inline constexpr std::string_view kFuzzRules = R"(
[[rule]]
event_type = "Customer"
subject = "/customerId"
fields = ["/email", "/name", "/address/street", "/phones/1"]

[[rule]]
event_type = "Payment"
subject = "$subject"
fields = ["/card"]
mask = '"[hidden]"'
)";

// A test key whose secret is public (it is right here); it exists only inside the fuzz server.
inline constexpr std::string_view kFuzzApiKey = "cairn_fuzz_fuzzsecretfuzzsecretfuzzsecretfuzzsecret";
inline constexpr int64_t kFuzzCallDeadlineMs = 10000;
inline constexpr uint64_t kFuzzReadChunkEventsMax = 64;
inline constexpr uint64_t kFuzzReadChunkBytesMax = 64 << 10;

inline void WriteFile(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  FUZZ_CHECK(out.good());
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
}

class FuzzServer {
 public:
  // `name` goes into the temp directory's name. Aborts (FUZZ_CHECK) if anything fails to start.
  explicit FuzzServer(std::string_view name) : name_(name) { Start(); }
  ~FuzzServer() { Stop(); }
  FuzzServer(const FuzzServer&) = delete;
  FuzzServer& operator=(const FuzzServer&) = delete;

  engine::EventStore& store() { return *store_; }
  v1::Streams::Stub& stub() { return *stub_; }
  uint64_t audit_records() const { return audit_records_->load(); }

  // A client context with the fixed credential and a deadline.
  static void Prepare(grpc::ClientContext* context) {
    context->AddMetadata("authorization", "Bearer " + std::string(kFuzzApiKey));
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(kFuzzCallDeadlineMs));
  }

  // Verifies the whole log (FUZZ_CHECK), then starts over on an empty store: bounds disk use.
  void Recycle() {
    const engine::VerifyReport report = store_->Verify();
    if (!report.ok) std::fprintf(stderr, "verify failed: %s\n", report.failure.c_str());
    FUZZ_CHECK(report.ok);
    Stop();
    Start();
  }

 private:
  void Start() {
    std::string pattern = (std::filesystem::temp_directory_path() /
                           ("cairn-fuzz-" + name_ + "-XXXXXX")).string();
    FUZZ_CHECK(::mkdtemp(pattern.data()) != nullptr);
    dir_ = pattern;
    WriteFile(dir_ / "rules.toml", kFuzzRules);
    StartStore();
    StartGate();
    StartGrpc();
  }

  void StartStore() {
    const std::string data = (dir_ / "data").string();
    FUZZ_CHECK(engine::EventStore::Init({data, "fuzz.cairn.test/streams", {}, std::nullopt}).ok());
    engine::Options options;
    options.data_dir = data;
    options.sync = false;  // durability is not under test here; speed is
    options.protect_rules_file = (dir_ / "rules.toml").string();
    options.limits.batch_events_max = 64;
    options.limits.event_size_bytes_max = 64 << 10;
    options.limits.batch_size_bytes_max = 256 << 10;
    auto store = engine::EventStore::Open(options);
    FUZZ_CHECK(store.ok());
    store_ = std::move(store).value();
  }

  void StartGate() {
    auto policy = policy::ParsePolicy(kFuzzPolicy, "fuzz-policy.toml");
    FUZZ_CHECK(policy.ok());
    policies_ = std::make_unique<policy::PolicyHolder>("");
    policies_->Install(std::move(policy).value());
    auth::AuthConfig auth_config;
    auth::ApiKeyConfig key;
    key.id = "fuzz";
    key.secret_sha256 = HexEncode(crypto::HashView(crypto::Sha256(kFuzzApiKey)));
    auth_config.api_keys.push_back(key);
    auth_config.failures_per_minute_max = 1000000;
    auto authenticator = auth::Authenticator::Create(auth_config);
    FUZZ_CHECK(authenticator.ok());
    authenticator_ = std::move(authenticator).value();
    audit::AuditTrailOptions trail_options;
    trail_options.data_plane = audit::DataPlaneAudit::kAll;
    auto counter = audit_records_;
    auto trail = audit::AuditTrail::Start(
        trail_options, [counter](const std::vector<audit::AuditRecord>& records) {
          for (const auto& r : records) FUZZ_CHECK(!audit::EncodeAuditRecordJson(r).empty());
          counter->fetch_add(records.size());
          return Status::Ok();
        });
    FUZZ_CHECK(trail.ok());
    trail_ = std::move(trail).value();
    call_audit_ = std::make_unique<server::CallAudit>(trail_.get(), nullptr);
    gate_ = std::make_unique<server::CallGate>(authenticator_.get(), policies_.get(), &peers_,
                                               call_audit_.get());
  }

  void StartGrpc() {
    server::StreamsServiceOptions options;
    options.read_chunk_events_max = kFuzzReadChunkEventsMax;
    options.read_chunk_bytes_max = kFuzzReadChunkBytesMax;
    service_ = std::make_unique<server::StreamsService>(store_.get(), gate_.get(), options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    FUZZ_CHECK(server_ != nullptr && port > 0);
    stub_ = v1::Streams::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                     grpc::InsecureChannelCredentials()));
  }

  void Stop() {
    stub_.reset();
    if (server_) server_->Shutdown();
    server_.reset();
    service_.reset();
    gate_.reset();
    if (trail_) trail_->Stop();
    call_audit_.reset();
    trail_.reset();
    authenticator_.reset();
    policies_.reset();
    store_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }

  std::string name_;
  std::filesystem::path dir_;
  std::shared_ptr<std::atomic<uint64_t>> audit_records_ = std::make_shared<std::atomic<uint64_t>>(0);
  std::unique_ptr<engine::EventStore> store_;
  std::unique_ptr<policy::PolicyHolder> policies_;
  std::unique_ptr<auth::Authenticator> authenticator_;
  std::unique_ptr<audit::AuditTrail> trail_;
  std::unique_ptr<server::CallAudit> call_audit_;
  server::CidrSet peers_;  // empty: no allowlist
  std::unique_ptr<server::CallGate> gate_;
  std::unique_ptr<server::StreamsService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Streams::Stub> stub_;
};

// The one server of a fuzz target, made by LLVMFuzzerInitialize and stopped at exit (so that its
// temp directory goes and no thread outlives main).
inline std::unique_ptr<FuzzServer>& TheFuzzServer() {
  static std::unique_ptr<FuzzServer> server;
  return server;
}

inline void StartFuzzServer(std::string_view name) {
  TheFuzzServer() = std::make_unique<FuzzServer>(name);
  std::atexit([] { TheFuzzServer().reset(); });
}

// A status the server answered with: OK, or an error code with a message. With CAIRN_FUZZ_VERBOSE
// set, each answer is printed (to see what the seeds reach).
inline void CheckAnswered(const grpc::Status& status) {
  if (std::getenv("CAIRN_FUZZ_VERBOSE") != nullptr) {
    std::fprintf(stderr, "answer: %d %s\n", static_cast<int>(status.error_code()),
                 status.error_message().c_str());
  }
  if (status.ok()) return;
  // The fixed identity is always admitted: anything else means the calls test nothing.
  FUZZ_CHECK(status.error_code() != grpc::StatusCode::UNAUTHENTICATED);
  FUZZ_CHECK(status.error_message() != "peer address not allowed");
  FUZZ_CHECK(status.error_code() != grpc::StatusCode::UNKNOWN);
  FUZZ_CHECK(!status.error_message().empty());
}

}  // namespace cairn::fuzz
