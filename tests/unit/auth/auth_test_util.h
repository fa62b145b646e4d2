// Test helpers for auth/: key generation, JWK export, JWS signing with any algorithm,
// certificates, and a tiny loopback HTTP server. Test code only.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

struct evp_pkey_st;

namespace cairn::auth::testing {

using json = nlohmann::json;

enum class KeyKind { kRsa, kEc, kEd25519, kHmac };

class TestKey {
 public:
  static TestKey Rsa(int bits = 2048);
  static TestKey Ec();
  static TestKey Ed25519();
  static TestKey Hmac(size_t size_bytes = 32);

  KeyKind kind() const { return kind_; }
  // The public JWK (or the oct JWK for HMAC) with `kid` (omitted when empty).
  json Jwk(const std::string& kid) const;
  // A JOSE signature of `input` (ES256: r || s).
  std::string Sign(const std::string& input) const;
  // The JOSE algorithm this key signs with.
  std::string Alg() const;
  std::string PublicPem() const;  // SubjectPublicKeyInfo PEM (RSA/EC/Ed25519)
  std::string PublicDer() const;
  const std::string& secret() const { return secret_; }  // HMAC only
  evp_pkey_st* pkey() const { return pkey_.get(); }

 private:
  KeyKind kind_ = KeyKind::kHmac;
  std::shared_ptr<evp_pkey_st> pkey_;
  std::string secret_;
};

// HMAC-SHA-256 with an arbitrary secret (used for the "HS256 keyed with the public key" attack).
std::string HmacSha256(const std::string& secret, const std::string& input);

std::string B64u(const std::string& bytes);

// header.payload (both JSON, base64url) — without signature.
std::string SigningInput(const json& header, const json& claims);
// A complete token signed by `key` with header {alg: key.Alg(), typ: JWT, kid (when non-empty)}.
std::string MakeJwt(const TestKey& key, const std::string& kid, const json& claims);
std::string MakeJwtWithHeader(const TestKey& key, const json& header, const json& claims);

// Writes {"keys": [...]} to `path` (atomically, through a rename).
void WriteJwks(const std::string& path, const std::vector<json>& keys);

// A self-signed certificate with subject attributes (in the given order, most general first,
// e.g. {{"O","Acme"},{"OU","payments"},{"CN","ledger"}}) and optional URI SANs. PEM. A type
// written "+CN" joins the previous attribute's RDN (a multi-valued RDN).
std::string MakeCertificate(const std::vector<std::pair<std::string, std::string>>& subject,
                            const std::vector<std::string>& uri_sans);

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};
// A self-signed server certificate for 127.0.0.1 (IP SAN) and localhost (DNS SAN).
CertAndKey MakeServerCertificate();

// A one-thread HTTP/1.0 server on 127.0.0.1 (ephemeral port) answering every request with the
// current body; with `tls` it speaks HTTPS with that certificate. Counts requests.
class TinyHttpServer {
 public:
  explicit TinyHttpServer(const CertAndKey* tls = nullptr);
  ~TinyHttpServer();
  int port() const { return port_; }
  void SetBody(const std::string& body, int status = 200);
  // Each later request is answered this long after it arrived.
  void SetDelayMs(int delay_ms) { delay_ms_ = delay_ms; }
  int requests() const { return requests_.load(); }

 private:
  void Loop();
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::atomic<int> delay_ms_{0};
  std::mutex mu_;
  std::string body_;
  int status_ = 200;
  void* ssl_ctx_ = nullptr;  // SSL_CTX when serving TLS
  std::thread thread_;
};

}  // namespace cairn::auth::testing
