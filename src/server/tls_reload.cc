#include "server/tls_reload.h"

#include <cassert>
#include <memory>
#include <string>
#include <utility>

#include "common/wall_clock.h"
#include "server/tls_credentials.h"
#include "server/tls_material.h"

namespace cairn::server {
namespace {

constexpr char kReloadsName[] = "cairn_tls_reloads_total";
constexpr char kReloadsHelp[] = "TLS certificate reloads (SIGHUP, Admin.ReloadTls) by outcome.";

Status CheckValidNow(const crypto::CertSummary& cert, int64_t now_unix_s) {
  if (cert.not_after_unix_s <= now_unix_s) {
    return Status::FailedPrecondition("tls.cert expired at " +
                                      UnixSecondsUtcText(cert.not_after_unix_s) +
                                      "; the served certificate stays");
  }
  if (cert.not_before_unix_s > now_unix_s + kTlsClockSkewSecondsMax) {
    return Status::FailedPrecondition("tls.cert is not valid before " +
                                      UnixSecondsUtcText(cert.not_before_unix_s) +
                                      "; the served certificate stays");
  }
  return Status::Ok();
}

}  // namespace

std::vector<std::pair<std::string, std::string>> TlsReloadDetails(const TlsReloaded& reloaded) {
  return {{"cert_sha256", reloaded.cert.sha256_hex},
          {"cert_not_after", UnixSecondsUtcText(reloaded.cert.not_after_unix_s)},
          {"client_ca_certs", std::to_string(reloaded.client_ca_certs)},
          {"generation", std::to_string(reloaded.generation)}};
}

TlsReloader::TlsReloader(TlsSection tls, Status refusal, ServerCertificates* grpc_certificates,
                         audit::MetricsRegistry* metrics)
    : tls_(std::move(tls)), grpc_certificates_(grpc_certificates), refusal_(std::move(refusal)) {
  assert(refusal_.ok() == (grpc_certificates_ != nullptr));
  if (metrics == nullptr) return;
  reloads_ok_ = metrics->GetCounter(kReloadsName, kReloadsHelp, {{"outcome", "success"}});
  reloads_failed_ = metrics->GetCounter(kReloadsName, kReloadsHelp, {{"outcome", "failure"}});
  if (!tls_.enabled) return;  // no certificate, no expiry
  not_after_ = metrics->GetGauge("cairn_tls_certificate_not_after_seconds",
                                 "notAfter of the certificate the listeners serve (Unix seconds).");
}

void TlsReloader::set_admin_listener(AdminHttpServer* admin) {
  std::lock_guard lock(mu_);
  admin_ = admin;
}

void TlsReloader::ReportServed(const crypto::CertSummary& cert) {
  if (not_after_ != nullptr) not_after_->Set(static_cast<double>(cert.not_after_unix_s));
}

Status TlsReloader::refusal() const {
  std::lock_guard lock(mu_);
  return refusal_;
}

void TlsReloader::FixCertificates(Status why) {
  assert(!why.ok());
  std::lock_guard lock(mu_);
  refusal_ = std::move(why);
}

Result<TlsReloaded> TlsReloader::Reload(int64_t now_unix_s) {
  std::lock_guard lock(mu_);
  if (!refusal_.ok()) return refusal_;  // not a failed reload: none is possible
  Result<TlsReloaded> reloaded = ReloadLocked(now_unix_s);
  audit::Counter* outcome = reloaded.ok() ? reloads_ok_ : reloads_failed_;
  if (outcome != nullptr) outcome->Increment();
  if (reloaded.ok()) ReportServed(reloaded->cert);
  return reloaded;
}

Result<TlsReloaded> TlsReloader::ReloadLocked(int64_t now_unix_s) {
  assert(grpc_certificates_ != nullptr);
  CAIRN_ASSIGN_OR_RETURN(TlsMaterial material, LoadTlsMaterial(tls_));
  CAIRN_RETURN_IF_ERROR(CheckValidNow(material.cert, now_unix_s));
  // Everything that can fail comes before the first listener changes. The admin listener's
  // context is made even without one: OpenSSL loads the chain, key and CAs as gRPC's will.
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<const AdminTlsContext> admin_tls,
                         MakeAdminTlsContext(tls_, material));
  TlsReloaded reloaded;
  reloaded.cert = material.cert;
  reloaded.client_ca_certs = material.client_ca_certs;
  if (admin_ != nullptr) {
    Status replaced = admin_->ReplaceTls(std::move(admin_tls));
    // The admin listener was started with TLS (that is when it is set): only a bug fails here.
    if (!replaced.ok()) return replaced.Annotate("the admin listener");
  }
  reloaded.generation = grpc_certificates_->Replace(std::move(material));
  return reloaded;
}

}  // namespace cairn::server
