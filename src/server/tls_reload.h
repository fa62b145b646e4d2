// TlsReloader: replaces the server's certificate, key and client CA bundle while it runs — the
// files named by [tls] cert, key and client_ca, re-read on SIGHUP or Admin.ReloadTls — so that
// certificates rotate (cert-manager, an ACME client, short-lived SPIFFE certificates) without a
// restart and without dropping a connection.
//
// Reload() reads and checks the files (server/tls_material.h: readable, key not readable by group
// or others, PEM, the key belongs to the certificate, the client CA bundle parses), refuses a
// certificate that has expired or is not valid yet (5 minutes of clock skew allowed), loads them
// into an OpenSSL context as the listeners will (so that gRPC, which would only log a failure and
// keep the old certificate, does not refuse them later), then installs the new material on the
// gRPC listener and, with server.admin_tls, on the admin listener. Only the served certificate's
// own dates are checked, not its intermediates' nor its names. Either every listener changes or
// none does: a refused reload leaves the served certificate in place and says why in one line
// (no key material in it). New connections handshake with the new certificate; open connections
// keep theirs. The paths are those of the configuration the server started with; the rest of
// [tls] (min_version, require_client_cert) does not change without a restart. "Done" means
// handed to gRPC's fetcher: gRPC builds its TLS context at the next connection, and a failure
// there (which the OpenSSL load above makes unlikely) it would only log.
//
// Reloading is not revocation: a client CA removed by a reload no longer admits new connections,
// but connections it admitted stay open until they close.
//
// Where the certificates cannot be replaced (TlsReloadRefusal in server/tls_credentials.h: TLS
// off, tls.min_version = "1.3", a host name to listen on; or FixCertificates() after the start
// found several listening sockets), Reload() returns that kFailedPrecondition, which refusal()
// also gives, and counts nothing.
//
// Metrics: cairn_tls_reloads_total{outcome="success"|"failure"}, and with TLS on
// cairn_tls_certificate_not_after_seconds (the served certificate's notAfter, Unix seconds).
//
// Thread safety: Reload() may be called from any thread; reloads run one at a time.
// set_admin_listener() is called once, before the first Reload() that should reach it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "audit/metrics.h"
#include "common/status.h"
#include "crypto/x509.h"
#include "server/admin_http.h"
#include "server/config.h"
#include "server/server_certificates.h"

namespace cairn::server {

inline constexpr int64_t kTlsClockSkewSecondsMax = 300;

// What a successful reload installed.
struct TlsReloaded {
  crypto::CertSummary cert;    // the certificate now served
  size_t client_ca_certs = 0;  // certificates in the client CA bundle (0: no client CA)
  uint64_t generation = 0;     // 1 for the start's material, one more per reload
};

// The audit record's details of a reload: cert_sha256, cert_not_after, client_ca_certs, generation.
std::vector<std::pair<std::string, std::string>> TlsReloadDetails(const TlsReloaded& reloaded);

class TlsReloader {
 public:
  // `refusal`: TlsReloadRefusal() of the server's settings; `grpc_certificates`: the gRPC
  // listener's, null exactly when `refusal` is not OK. `metrics` may be null. Neither is owned;
  // both outlive the reloader.
  TlsReloader(TlsSection tls, Status refusal, ServerCertificates* grpc_certificates,
              audit::MetricsRegistry* metrics);
  TlsReloader(const TlsReloader&) = delete;
  TlsReloader& operator=(const TlsReloader&) = delete;

  // The admin listener, when it serves HTTPS (not owned; outlives the reloader's last Reload()).
  void set_admin_listener(AdminHttpServer* admin);

  // See the header comment. `now_unix_s` judges the certificate's validity dates.
  Result<TlsReloaded> Reload(int64_t now_unix_s);

  // Records the start's certificate in the metrics.
  void ReportServed(const crypto::CertSummary& cert);

  // OK when Reload() may replace the certificates; else why it may not.
  Status refusal() const;
  // From now on Reload() returns `why` (not OK): the server found, after it started, that its
  // listener cannot take replaced certificates safely (it has several sockets).
  void FixCertificates(Status why);

 private:
  Result<TlsReloaded> ReloadLocked(int64_t now_unix_s);

  const TlsSection tls_;
  ServerCertificates* const grpc_certificates_;
  audit::Counter* reloads_ok_ = nullptr;
  audit::Counter* reloads_failed_ = nullptr;
  audit::Gauge* not_after_ = nullptr;
  mutable std::mutex mu_;             // one reload at a time
  Status refusal_;                    // guarded by mu_
  AdminHttpServer* admin_ = nullptr;  // guarded by mu_
};

}  // namespace cairn::server
