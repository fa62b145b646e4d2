#include "auth_test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "auth/base64url.h"
#include "crypto/secure.h"

namespace cairn::auth::testing {
// A plain anonymous namespace: the file's functions below it use these helpers (a test file
// keeps its own in CAIRN_UNITY_ID, CMakeLists.txt).
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test helper failed: ") + what);
}

std::shared_ptr<evp_pkey_st> Share(EVP_PKEY* p) {
  return std::shared_ptr<evp_pkey_st>(p, [](EVP_PKEY* k) { EVP_PKEY_free(k); });
}

std::string BnParam(EVP_PKEY* pkey, const char* name, int pad_to = 0) {
  BIGNUM* bn = nullptr;
  Check(EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, name);
  int len = pad_to > 0 ? pad_to : BN_num_bytes(bn);
  std::string out(static_cast<size_t>(len), '\0');
  Check(BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len) == len, "bn2bin");
  BN_free(bn);
  return out;
}

std::string DigestSign(EVP_PKEY* pkey, const EVP_MD* md, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Check(EVP_DigestSignInit(ctx, nullptr, md, nullptr, pkey) == 1, "DigestSignInit");
  size_t len = 0;
  Check(EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1, "DigestSign size");
  std::string sig(len, '\0');
  Check(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1,
        "DigestSign");
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

}  // namespace

std::string B64u(const std::string& bytes) { return Base64UrlEncode(bytes); }

TestKey TestKey::Rsa(int bits) {
  TestKey k;
  k.kind_ = KeyKind::kRsa;
  k.pkey_ = Share(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  Check(k.pkey_ != nullptr, "RSA keygen");
  return k;
}

TestKey TestKey::Ec() {
  TestKey k;
  k.kind_ = KeyKind::kEc;
  k.pkey_ = Share(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  Check(k.pkey_ != nullptr, "EC keygen");
  return k;
}

TestKey TestKey::Ed25519() {
  TestKey k;
  k.kind_ = KeyKind::kEd25519;
  k.pkey_ = Share(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  Check(k.pkey_ != nullptr, "Ed25519 keygen");
  return k;
}

TestKey TestKey::Hmac(size_t size_bytes) {
  TestKey k;
  k.kind_ = KeyKind::kHmac;
  k.secret_ = crypto::RandomString(size_bytes);
  return k;
}

std::string TestKey::Alg() const {
  switch (kind_) {
    case KeyKind::kRsa: return "RS256";
    case KeyKind::kEc: return "ES256";
    case KeyKind::kEd25519: return "EdDSA";
    case KeyKind::kHmac: return "HS256";
  }
  return "";
}

json TestKey::Jwk(const std::string& kid) const {
  json j;
  switch (kind_) {
    case KeyKind::kRsa:
      j = {{"kty", "RSA"}, {"n", B64u(BnParam(pkey(), OSSL_PKEY_PARAM_RSA_N))},
           {"e", B64u(BnParam(pkey(), OSSL_PKEY_PARAM_RSA_E))}};
      break;
    case KeyKind::kEc:
      j = {{"kty", "EC"}, {"crv", "P-256"}, {"x", B64u(BnParam(pkey(), OSSL_PKEY_PARAM_EC_PUB_X, 32))},
           {"y", B64u(BnParam(pkey(), OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
      break;
    case KeyKind::kEd25519: {
      std::string pub(32, '\0');
      size_t len = pub.size();
      Check(EVP_PKEY_get_raw_public_key(pkey(), reinterpret_cast<unsigned char*>(pub.data()), &len) == 1,
            "raw public");
      j = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", B64u(pub)}};
      break;
    }
    case KeyKind::kHmac:
      j = {{"kty", "oct"}, {"k", B64u(secret_)}};
      break;
  }
  if (!kid.empty()) j["kid"] = kid;
  return j;
}

std::string HmacSha256(const std::string& secret, const std::string& input) {
  unsigned char out[32];
  unsigned int len = 0;
  Check(HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
             reinterpret_cast<const unsigned char*>(input.data()), input.size(), out, &len) != nullptr,
        "HMAC");
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string TestKey::Sign(const std::string& input) const {
  switch (kind_) {
    case KeyKind::kRsa: return DigestSign(pkey(), EVP_sha256(), input);
    case KeyKind::kEd25519: return DigestSign(pkey(), nullptr, input);
    case KeyKind::kHmac: return HmacSha256(secret_, input);
    case KeyKind::kEc: {
      std::string der = DigestSign(pkey(), EVP_sha256(), input);
      const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
      ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
      Check(sig != nullptr, "d2i_ECDSA_SIG");
      std::string out(64, '\0');
      BN_bn2binpad(ECDSA_SIG_get0_r(sig), reinterpret_cast<unsigned char*>(out.data()), 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(sig), reinterpret_cast<unsigned char*>(out.data()) + 32, 32);
      ECDSA_SIG_free(sig);
      return out;
    }
  }
  return "";
}

std::string TestKey::PublicPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  Check(PEM_write_bio_PUBKEY(bio, pkey()) == 1, "PEM_write_bio_PUBKEY");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

std::string TestKey::PublicDer() const {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey(), &der);
  Check(len > 0, "i2d_PUBKEY");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string SigningInput(const json& header, const json& claims) {
  return B64u(header.dump()) + "." + B64u(claims.dump());
}

std::string MakeJwtWithHeader(const TestKey& key, const json& header, const json& claims) {
  std::string input = SigningInput(header, claims);
  return input + "." + B64u(key.Sign(input));
}

std::string MakeJwt(const TestKey& key, const std::string& kid, const json& claims) {
  json header = {{"alg", key.Alg()}, {"typ", "JWT"}};
  if (!kid.empty()) header["kid"] = kid;
  return MakeJwtWithHeader(key, header, claims);
}

void WriteJwks(const std::string& path, const std::vector<json>& keys) {
  json doc = {{"keys", keys}};
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << doc.dump();
    Check(static_cast<bool>(out), "write JWKS");
  }
  // Private, as an operator keeps a JWKS that may hold HS256 secrets (jwks_source.cc refuses
  // such a file when group or others may read it).
  Check(::chmod(tmp.c_str(), 0600) == 0, "chmod JWKS");
  Check(std::rename(tmp.c_str(), path.c_str()) == 0, "rename JWKS");
}

namespace {

X509* NewCert(EVP_PKEY* key, const std::vector<std::pair<std::string, std::string>>& subject,
              const std::vector<std::string>& sans /* "URI:..", "IP:..", "DNS:.." */) {
  X509* cert = X509_new();
  Check(X509_set_version(cert, 2) == 1, "version");
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  for (const auto& [type, value] : subject) {
    // "+TYPE" joins the previous attribute's RDN (a multi-valued RDN); others start a new one.
    const bool join = !type.empty() && type[0] == '+';
    const std::string bare = join ? type.substr(1) : type;
    Check(X509_NAME_add_entry_by_txt(name, bare.c_str(), MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                     join ? -1 : 0) == 1,
          "add subject entry");
  }
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  if (!sans.empty()) {
    std::string value;
    for (const auto& s : sans) value += (value.empty() ? "" : ",") + s;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, value.c_str());
    Check(ext != nullptr, "SAN extension");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  Check(X509_sign(cert, key, EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string CertPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

}  // namespace

std::string MakeCertificate(const std::vector<std::pair<std::string, std::string>>& subject,
                            const std::vector<std::string>& uri_sans) {
  TestKey key = TestKey::Ec();
  std::vector<std::string> sans;
  for (const auto& u : uri_sans) sans.push_back("URI:" + u);
  X509* cert = NewCert(key.pkey(), subject, sans);
  std::string pem = CertPem(cert);
  X509_free(cert);
  return pem;
}

CertAndKey MakeServerCertificate() {
  TestKey key = TestKey::Ec();
  X509* cert = NewCert(key.pkey(), {{"CN", "localhost"}}, {"IP:127.0.0.1", "DNS:localhost"});
  CertAndKey out;
  out.cert_pem = CertPem(cert);
  X509_free(cert);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key.pkey(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  out.key_pem.assign(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

TinyHttpServer::TinyHttpServer(const CertAndKey* tls) {
  if (tls != nullptr) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    BIO* cb = BIO_new_mem_buf(tls->cert_pem.data(), static_cast<int>(tls->cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO* kb = BIO_new_mem_buf(tls->key_pem.data(), static_cast<int>(tls->key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    Check(SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1, "TLS ctx");
    X509_free(cert);
    EVP_PKEY_free(key);
    ssl_ctx_ = ctx;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Check(listen_fd_ >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  Check(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0, "bind");
  Check(::listen(listen_fd_, 16) == 0, "listen");
  socklen_t len = sizeof addr;
  Check(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

TinyHttpServer::~TinyHttpServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
  if (ssl_ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

void TinyHttpServer::SetBody(const std::string& body, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  body_ = body;
  status_ = status;
}

void TinyHttpServer::Loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = nullptr;
    if (ssl_ctx_ != nullptr) {
      ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) != 1) {  // e.g. the client refused our certificate
        SSL_free(ssl);
        ::close(fd);
        continue;
      }
    }
    auto rd = [&](char* buf, int n) { return ssl ? SSL_read(ssl, buf, n) : static_cast<int>(::read(fd, buf, n)); };
    auto wr = [&](const std::string& s) {
      if (ssl) SSL_write(ssl, s.data(), static_cast<int>(s.size()));
      else (void)!::write(fd, s.data(), s.size());
    };
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      int n = rd(buf, sizeof buf);
      if (n <= 0) break;
      request.append(buf, static_cast<size_t>(n));
    }
    ++requests_;
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
    std::string body;
    int status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      body = body_;
      status = status_;
    }
    wr("HTTP/1.0 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    ::close(fd);
  }
}

}  // namespace cairn::auth::testing
