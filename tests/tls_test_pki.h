// Test certificates and a raw TLS probe for the certificate-reload tests: CAs and leaves made with
// crypto/x509.h, and an OpenSSL client that reports which certificate a listener presents.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>
#include <string>

#include "common/bytes.h"
#include "crypto/x509.h"

namespace cairn::testing {

inline int64_t TlsTestNowS() { return static_cast<int64_t>(std::time(nullptr)); }

inline crypto::KeyAndCert TlsTestCa(const std::string& name) {
  crypto::CertRequest r;
  r.common_name = name;
  r.is_ca = true;
  r.usage = crypto::CertRequest::Usage::kCa;
  r.not_before_unix_s = TlsTestNowS() - 60;
  r.not_after_unix_s = TlsTestNowS() + 3600;
  return crypto::CreateSelfSignedCa(r).value();
}

// A server certificate for 127.0.0.1 / localhost (client = false) or a client certificate, valid
// in [not_before, not_after] (default: a minute ago to an hour from now).
inline crypto::KeyAndCert TlsTestLeaf(const crypto::KeyAndCert& ca, const std::string& name,
                                      bool client = false, int64_t not_before_unix_s = 0,
                                      int64_t not_after_unix_s = 0) {
  crypto::CertRequest r;
  r.common_name = name;
  if (!client) {
    r.dns_sans = {"localhost"};
    r.ip_sans = {"127.0.0.1"};
  }
  r.usage = client ? crypto::CertRequest::Usage::kClient : crypto::CertRequest::Usage::kServer;
  r.not_before_unix_s = not_before_unix_s != 0 ? not_before_unix_s : TlsTestNowS() - 60;
  r.not_after_unix_s = not_after_unix_s != 0 ? not_after_unix_s : TlsTestNowS() + 3600;
  return crypto::IssueCertificate(ca, r).value();
}

// SHA-256 of the DER encoding of the first certificate in `pem`, lowercase hex ("" if none).
inline std::string TlsTestFingerprint(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) return "";
  unsigned char* der = nullptr;
  const int der_size = i2d_X509(cert, &der);
  X509_free(cert);
  unsigned char digest[32];
  size_t digest_size = 0;
  const bool ok = der_size > 0 && EVP_Q_digest(nullptr, "SHA256", nullptr, der, der_size, digest,
                                               &digest_size) == 1;
  OPENSSL_free(der);
  return ok ? HexEncode(std::span<const uint8_t>(digest, digest_size)) : "";
}

struct TlsProbe {
  bool ok = false;
  std::string peer_sha256;  // the presented certificate's fingerprint when ok
  int version = 0;          // TLS1_2_VERSION, TLS1_3_VERSION when ok
  std::string alpn;         // the negotiated ALPN protocol when ok
  std::string error;
};

// A TLS handshake with 127.0.0.1:port by OpenSSL alone (ALPN "h2"), verifying the listener
// against `ca_pem`, with `client` as the client certificate when given. With TLS 1.3 the client's
// handshake ends before the server judges a client certificate: `ok` says which certificate the
// server presented, not whether it accepted the client's (make a call for that).
// The client offers exactly [min_version, max_version] (0: OpenSSL's defaults).
inline TlsProbe TlsTestProbe(int port, const std::string& ca_pem,
                             const crypto::KeyAndCert* client = nullptr, int min_version = 0,
                             int max_version = 0) {
  TlsProbe probe;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (min_version != 0) SSL_CTX_set_min_proto_version(ctx, min_version);
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  BIO* bio = BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size()));
  while (X509* ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
    X509_free(ca);
  }
  BIO_free(bio);
  ERR_clear_error();
  if (client != nullptr) {
    BIO* cert_bio = BIO_new_mem_buf(client->cert_pem.data(), static_cast<int>(client->cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO_free(cert_bio);
    BIO* key_bio = BIO_new_mem_buf(client->key_pem.data(), static_cast<int>(client->key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    BIO_free(key_bio);
    SSL_CTX_use_certificate(ctx, cert);
    SSL_CTX_use_PrivateKey(ctx, key);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  SSL* ssl = SSL_new(ctx);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    probe.error = "connect failed";
  } else {
    SSL_set_fd(ssl, fd);
    SSL_set1_host(ssl, "127.0.0.1");
    if (SSL_connect(ssl) == 1) {
      X509* peer = SSL_get1_peer_certificate(ssl);
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int digest_size = 0;
      if (peer != nullptr && X509_digest(peer, EVP_sha256(), digest, &digest_size) == 1) {
        probe.ok = true;
        probe.peer_sha256 = HexEncode(std::span<const uint8_t>(digest, digest_size));
        probe.version = SSL_version(ssl);
        const unsigned char* proto = nullptr;
        unsigned int proto_size = 0;
        SSL_get0_alpn_selected(ssl, &proto, &proto_size);
        probe.alpn.assign(reinterpret_cast<const char*>(proto), proto_size);
      }
      X509_free(peer);
      SSL_shutdown(ssl);
    } else {
      char reason[256];
      ERR_error_string_n(ERR_peek_last_error(), reason, sizeof(reason));
      probe.error = std::string("handshake failed: ") + reason;
    }
  }
  ERR_clear_error();
  SSL_free(ssl);
  if (fd >= 0) ::close(fd);
  SSL_CTX_free(ctx);
  return probe;
}

}  // namespace cairn::testing
