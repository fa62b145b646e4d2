// Posture checks of the listeners and TLS: CAIRN-TLS-*, CAIRN-NET-*.
#include <string>

#include "common/trusted_file.h"
#include "crypto/x509.h"
#include "server/cidr.h"
#include "server/posture_internal.h"

namespace cairn::server::posture {
namespace {

constexpr int64_t kCertWarnDays = 30;
constexpr int64_t kCertUrgentDays = 7;
constexpr size_t kCertFileSizeBytesMax = 1 << 20;

// Judged on the parsed entry, as the listeners match it: "0.0.0.0/0", "::/0" and the mapped
// "::ffff:0.0.0.0/96" (every IPv4 client) all admit everyone of their family.
bool AdmitsEveryone(const std::string& cidr) {
  auto parsed = CidrSet::Parse({cidr});
  return parsed.ok() && parsed->HasCatchAll();
}

void CheckTlsOff(const Config& config, Findings* out) {
  if (config.tls.enabled) return;
  if (AnyListenerOffLoopback(config)) {
    out->Add("CAIRN-TLS-001", Severity::kCritical,
             "tls.enabled = false while server.listen or server.admin_listen is not on loopback: "
             "credentials and events travel in clear",
             "set tls.enabled = true with tls.cert and tls.key, or listen on 127.0.0.1");
    return;
  }
  out->Add("CAIRN-TLS-001", Severity::kLow,
           "tls.enabled = false (listeners on loopback only): local processes can read traffic "
           "only with elevated rights, but tokens still travel in clear",
           "set tls.enabled = true (cairn init writes a dev certificate)");
}

void CheckTlsVersion(const Config& config, Findings* out) {
  if (!config.tls.enabled) return;
  if (config.tls.min_version == "1.2" || config.tls.min_version == "1.3") return;
  out->Add("CAIRN-TLS-002", Severity::kHigh,
           "tls.min_version = \"" + config.tls.min_version +
               "\": TLS 1.0 and 1.1 are deprecated (RFC 8996)",
           "set tls.min_version = \"1.2\" or \"1.3\"");
}

void CheckCertExpiry(const Config& config, const PostureContext& context, Findings* out) {
  if (!config.tls.enabled || config.tls.cert.empty()) return;
  Result<std::string> pem = ReadSmallFile(config.tls.cert, "tls.cert", kCertFileSizeBytesMax);
  if (!pem.ok()) return;  // a missing certificate is serve's refusal, not a posture finding
  Result<int64_t> not_after = crypto::CertNotAfterUnixSeconds(*pem);
  if (!not_after.ok()) {
    out->Add("CAIRN-TLS-003", Severity::kHigh, "tls.cert " + config.tls.cert + " cannot be parsed",
             "install a valid PEM certificate chain at tls.cert");
    return;
  }
  const int64_t left_s = *not_after - context.now_unix_s;
  const std::string fix = "renew the certificate at tls.cert (and restart the server)";
  if (left_s <= 0) {
    out->Add("CAIRN-TLS-003", Severity::kCritical,
             "tls.cert " + config.tls.cert + " expired " + std::to_string(-left_s / kDayS) +
                 " day(s) ago: clients refuse the connection",
             fix);
  } else if (left_s < kCertWarnDays * kDayS) {
    out->Add("CAIRN-TLS-003", left_s < kCertUrgentDays * kDayS ? Severity::kHigh : Severity::kMedium,
             "tls.cert " + config.tls.cert + " expires in " + std::to_string(left_s / kDayS) +
                 " day(s)",
             fix);
  }
}

void CheckAllowlist(const Config& config, Findings* out) {
  const bool exposed = AnyListenerOffLoopback(config);
  if (exposed && config.server.allow_cidrs.empty()) {
    out->Add("CAIRN-NET-001", Severity::kCritical,
             "a listener is off loopback (server.listen = \"" + config.server.listen +
                 "\", server.admin_listen = \"" + config.server.admin_listen +
                 "\") and server.allow_cidrs is empty",
             "list the client networks in server.allow_cidrs (e.g. [\"10.0.0.0/8\"])");
  }
  for (const std::string& cidr : config.server.allow_cidrs) {
    if (!AdmitsEveryone(cidr)) continue;
    out->Add("CAIRN-NET-002", exposed ? Severity::kCritical : Severity::kMedium,
             "server.allow_cidrs contains \"" + cidr + "\", which admits every address" +
                 (exposed ? "" : " (listeners on loopback for now)"),
             "list only the client networks that need the store (e.g. \"10.1.0.0/16\")");
  }
}

void CheckAdminListener(const Config& config, Findings* out) {
  if (config.server.admin_listen.empty() || IsLoopbackListen(config.server.admin_listen)) return;
  const std::string where = "server.admin_listen = \"" + config.server.admin_listen + "\" is not loopback";
  if (!config.server.admin_tls) {
    out->Add("CAIRN-NET-003", Severity::kHigh,
             where + ": /metrics and /checkpoint are served in plain HTTP without authentication",
             "set server.admin_tls = true with tls.client_ca and tls.require_client_cert = true, "
             "or server.admin_listen = \"127.0.0.1:7401\" and scrape through a local agent");
    return;
  }
  if (config.tls.require_client_cert && !config.tls.client_ca.empty()) return;
  out->Add("CAIRN-NET-003", Severity::kMedium,
           where + ": /metrics and /checkpoint are served over TLS to every client of "
                   "server.allow_cidrs without a client certificate",
           "set tls.client_ca and tls.require_client_cert = true so that scrapers present "
           "certificates, or keep the admin listener on loopback");
}

}  // namespace

void CheckNetwork(const Config& config, const PostureContext& context, Findings* out) {
  CheckTlsOff(config, out);
  CheckTlsVersion(config, out);
  CheckCertExpiry(config, context, out);
  CheckAllowlist(config, out);
  CheckAdminListener(config, out);
}

}  // namespace cairn::server::posture
