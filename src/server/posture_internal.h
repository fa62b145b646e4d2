// The checks of server/posture.h, by area, and the helpers they share. Internal to server/.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/posture.h"

namespace cairn::policy {
class Policy;
}  // namespace cairn::policy

namespace cairn::server::posture {

inline constexpr int64_t kDayS = 86400;  // the unit of the checks' age limits

// Collects findings; fills the title from the catalogue and bounds findings per check.
class Findings {
 public:
  void Add(std::string_view id, Severity severity, std::string finding, std::string fix);
  std::vector<Finding> Take();

 private:
  std::vector<Finding> out_;
};

// The mode bits of `path`, or nullopt when it cannot be stat'ed.
std::optional<mode_t> FileMode(const std::string& path);
// The modification time of `path` (Unix seconds), or nullopt.
std::optional<int64_t> FileMtime(const std::string& path);
// "0644".
std::string ModeText(mode_t mode);
// True when a listen address ("host:port") is on loopback; malformed counts as not loopback.
bool IsLoopbackListen(const std::string& listen);
bool AnyListenerOffLoopback(const Config& config);
// The keyring file the local provider uses (configured or <data_dir>/keyring); "" for pkcs11.
std::string EffectiveKeyringPath(const Config& config);

void CheckNetwork(const Config& config, const PostureContext& context, Findings* out);
void CheckFiles(const Config& config, Findings* out);
void CheckAuth(const Config& config, const PostureContext& context, Findings* out);
void CheckPolicy(const Config& config, Findings* out);
void CheckLoadedPolicy(const policy::Policy& policy, const Config& config, Findings* out);
void CheckKeys(const Config& config, const PostureContext& context, Findings* out);
void CheckStorage(const Config& config, Findings* out);
void CheckOperations(const Config& config, Findings* out);
void CheckData(const PostureContext& context, Findings* out);
void CheckWebhooks(const PostureContext& context, Findings* out);
void CheckAlertWebhook(const Config& config, Findings* out);

// Data checks, exposed for tests: does a JSON member name look like personal data, does a
// stream id look like an e-mail address.
bool LooksLikePiiName(std::string_view name);
bool LooksLikeEmail(std::string_view text);

// PostgreSQL connection settings from a DSN (key=value or postgres:// URI), with what libpq
// takes from the environment for the settings the DSN leaves out (PGHOST, PGHOSTADDR,
// PGSSLMODE; a PGSERVICE or service= without a host counts as a host off loopback). Hosts "" or
// starting with '/' are Unix sockets.
struct PgDsn {
  std::vector<std::string> hosts;
  std::string sslmode;  // "" when not given
  bool has_password = false;
  bool malformed = false;  // libpq cannot parse it (hosts then holds the local socket only)
};
PgDsn ParsePgDsn(std::string_view dsn);
// True when some host of the DSN is neither a Unix socket nor a loopback address.
bool PgReachesRemoteHost(const PgDsn& dsn);

}  // namespace cairn::server::posture
