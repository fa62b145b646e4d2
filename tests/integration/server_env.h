// A complete server set-up for integration tests: a data directory made by `cairn init`, a test
// policy, two JWT issuers (A: RSA, EC, Ed25519 and HMAC keys; B: one RSA key), API keys, mTLS
// rules, and a config file listening on ephemeral loopback ports. Start() runs the real server
// as a child process.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/client.h"
#include "crypto/x509.h"
#include "jwt_signer.h"
#include "server_process.h"
#include "test_util.h"

namespace cairn::testing {

inline constexpr char kIssuerA[] = "https://issuer-a.test";
inline constexpr char kIssuerB[] = "https://issuer-b.test";
inline constexpr char kAudience[] = "cairn-test";
inline constexpr char kHsSecret[] = "0123456789abcdef0123456789abcdef-hs256";

class ServerEnv {
 public:
  ServerEnv();
  // A log in PostgreSQL: `storage_toml` is a [storage] table (backend = "postgres", ...) that
  // `cairn init` and every configuration written here get; the data directory then holds only
  // the keyring, the dev TLS files and the lock. "" is the embedded RocksDB store.
  explicit ServerEnv(std::string storage_toml);

  // Extra TOML appended to [server] (e.g. allow_cidrs) before the server starts.
  std::string server_extra;
  // [auth] failures_per_minute_max: high by default so that the negative tests are not cut
  // short by the limiter (which has its own test).
  int failures_per_minute_max = 1000;
  // Extra top-level TOML tables appended to the config (e.g. [protect]).
  std::string extra_config;
  // The `$audit` trail writes records into the log (a start record at position 0, ...), which
  // would move every position other tests expect: off unless a test turns it on. When true, no
  // [audit] table is written (a test may put its own in extra_config).
  bool audit_enabled = false;
  bool Start();
  std::string ConfigPath() const { return dir_.Sub("test.toml"); }
  std::string PolicyPath() const { return dir_.Sub("policy.toml"); }
  std::string DataDir() const { return dir_.Sub("data"); }
  std::string CaCert() const { return dir_.Sub("data/dev/ca.crt"); }
  const TempDir& dir() const { return dir_; }
  ServerProcess& server() { return server_; }

  // The config text Start() writes (exposed for refusal tests that alter it).
  std::string ConfigText() const;
  void WriteConfig(const std::string& text) const;

  // A client with the given bearer token (or none), trusting the dev CA.
  std::unique_ptr<Client> ClientWith(const std::string& token) const;
  // The same for another server of this environment (a node, see StartNode).
  std::unique_ptr<Client> ClientOf(const ServerProcess& process, const std::string& token) const;

  // Further servers on the same log (a PostgreSQL [storage] only): node n >= 1 runs with the
  // configuration NodeConfigPath(n): its own data directory `node-<n>` (only its lock), the first
  // server's keyring through [keys] (so extra_config must not hold a [keys] table), the same
  // TLS files, policy, credentials and extra_config. False when it does not start
  // (process->output() says why). The caller owns and stops `process`.
  bool StartNode(int node, ServerProcess* process) const;
  std::string NodeConfigPath(int node) const;
  std::unique_ptr<Client> ClientWithOptions(ClientOptions options) const;

  // Rewrites the policy file so that the bot's role (order-service) may subscribe to order-*
  // events of `event_type` only (it still reads every type). False if the policy is not the one
  // Start() wrote. The caller then reloads it.
  bool NarrowBotSubscribeTo(const std::string& event_type) const;

  // Valid tokens for issuer A with the given sub/roles, signed by each key kind.
  std::string TokenA(const std::string& alg, const std::string& sub,
                     const std::string& roles_json = "[]", int64_t exp_offset_s = 600) const;
  std::string Claims(const std::string& iss, const std::string& aud, const std::string& sub,
                     int64_t exp_offset_s, const std::string& extra = "") const;

  Pkey rsa_a, ec_a, ed_a, rsa_b;
  std::string admin_key, bot_key, expired_key;
  crypto::KeyAndCert dev_ca;    // the CA that init made (signs client certs the server trusts)
  crypto::KeyAndCert other_ca;  // a CA the server does not trust

 private:
  TempDir dir_;
  std::string ConfigTextFor(const std::string& data_dir, const std::string& tail) const;

  std::string storage_toml_;
  std::string api_keys_toml_;
  ServerProcess server_;
};

int64_t NowS();

// Appends `n` OrderCreated events of 20 KB to `stream` in batches of 50 (ASSERTs each append):
// 20 MB for n = 1000, far beyond what HTTP/2 flow control lets a transport take from a consumer
// that does not read.
void AppendLargeEvents(Client& client, const std::string& stream, int n);

// Polls `$audit` (read by `admin`, ASSERT-free) until a record of `type` (e.g. "$auth.failure")
// whose data contains `text` is there; false after `timeout_ms`. The trail must be on
// (ServerEnv::audit_enabled).
bool WaitForTrailRecord(Client& admin, std::string_view type, std::string_view text,
                        int timeout_ms = 10000);
// How many such records `$audit` holds now.
size_t TrailRecords(Client& admin, std::string_view type, std::string_view text);

// The [storage] table of a log in the PostgreSQL database `dsn` (a libpq conninfo without a
// password, e.g. PgTestServer::CreateDatabase()), for ServerEnv(storage_toml).
std::string PostgresStorageToml(const std::string& dsn);

}  // namespace cairn::testing
