#include "server/admin_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cassert>
#include <vector>

#include "crypto/openssl_ptr.h"
#include "crypto/secure.h"
#include "crypto/x509.h"

namespace cairn::server {
namespace {

using BioPtr = crypto::OpensslPtr<BIO, BIO_free_all>;
using X509Ptr = crypto::OpensslPtr<X509, X509_free>;
using SslCtxPtr = crypto::OpensslPtr<SSL_CTX, SSL_CTX_free>;

constexpr size_t kPemSizeBytesMax = 1 << 20;
constexpr size_t kChainCertsMax = 16;
constexpr size_t kClientCasMax = crypto::kCertBundleCountMax;  // as tls.client_ca is checked
// TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3's are all of that kind).
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// No passphrase prompt (OpenSSL's default asks on the terminal): an encrypted key is refused.
int NoPassphrase(char*, int, int, void*) { return 0; }

BioPtr MemoryBio(const std::string& text) {
  assert(text.size() <= kPemSizeBytesMax);
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Every certificate of a PEM text, in order (at most `max`); empty when there is none or one
// does not parse.
// `trusted_form`: "TRUSTED CERTIFICATE" blocks too (CA bundles, read as gRPC reads them).
std::vector<X509Ptr> ReadCertificates(const std::string& pem, size_t max, bool trusted_form) {
  std::vector<X509Ptr> certs;
  BioPtr bio = MemoryBio(pem);
  if (bio == nullptr) return certs;
  for (;;) {
    X509Ptr cert(trusted_form ? PEM_read_bio_X509_AUX(bio.get(), nullptr, NoPassphrase, nullptr)
                              : PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
    if (cert == nullptr) break;
    if (certs.size() == max) return {};
    certs.push_back(std::move(cert));
  }
  // The end of the text, or a block that is not a certificate: only the end is fine.
  const unsigned long err = ERR_peek_last_error();
  const bool at_end = ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  if (!at_end) return {};
  return certs;
}

Status UseCertificateAndKey(SSL_CTX* ctx, const std::string& chain_pem, const std::string& key_pem) {
  std::vector<X509Ptr> chain = ReadCertificates(chain_pem, kChainCertsMax, /*trusted_form=*/false);
  if (chain.empty()) return Status::InvalidArgument("the TLS certificate is not PEM certificates");
  if (SSL_CTX_use_certificate(ctx, chain[0].get()) != 1) {
    return Status::InvalidArgument("the TLS certificate is not usable");
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      return Status::InvalidArgument("a TLS intermediate certificate is not usable");
    }
  }
  BioPtr bio = MemoryBio(key_pem);
  crypto::PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  if (key == nullptr) {
    return Status::InvalidArgument("the TLS key is not an unencrypted PEM private key");
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("the TLS key does not match the certificate");
  }
  return Status::Ok();
}

Status VerifyClients(SSL_CTX* ctx, const std::string& ca_pem, bool required) {
  std::vector<X509Ptr> cas = ReadCertificates(ca_pem, kClientCasMax, /*trusted_form=*/true);
  if (cas.empty()) return Status::InvalidArgument("the client CA is not PEM certificates");
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const X509Ptr& ca : cas) {
    if (X509_STORE_add_cert(store, ca.get()) != 1 || SSL_CTX_add_client_CA(ctx, ca.get()) != 1) {
      return Status::InvalidArgument("a client CA certificate is not usable");
    }
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
  return Status::Ok();
}

Status Configure(SSL_CTX* ctx, const AdminTlsOptions& o) {
  if (o.cert_chain_pem.size() > kPemSizeBytesMax || o.key_pem.size() > kPemSizeBytesMax ||
      o.client_ca_pem.size() > kPemSizeBytesMax) {
    return Status::InvalidArgument("a TLS PEM text is larger than 1 MiB");
  }
  if (o.require_client_cert && o.client_ca_pem.empty()) {
    return Status::InvalidArgument("requiring client certificates needs a client CA");
  }
  const int min_version = o.tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return Status::Internal("OpenSSL refused the TLS versions or suites");
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  CAIRN_RETURN_IF_ERROR(UseCertificateAndKey(ctx, o.cert_chain_pem, o.key_pem));
  if (!o.client_ca_pem.empty()) {
    CAIRN_RETURN_IF_ERROR(VerifyClients(ctx, o.client_ca_pem, o.require_client_cert));
  }
  return Status::Ok();
}

}  // namespace

// ---- AdminTlsContext ----

Result<std::shared_ptr<const AdminTlsContext>> AdminTlsContext::Create(AdminTlsOptions options) {
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) return Status::Internal("OpenSSL cannot make a TLS context");
  Status configured = Configure(ctx.get(), options);
  crypto::Cleanse(&options.key_pem);
  ERR_clear_error();
  CAIRN_RETURN_IF_ERROR(configured);
  return std::shared_ptr<const AdminTlsContext>(new AdminTlsContext(ctx.release()));
}

AdminTlsContext::~AdminTlsContext() { SSL_CTX_free(ctx_); }

Result<std::unique_ptr<AdminTlsSession>> AdminTlsContext::NewSession(int fd) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return Status::Internal("OpenSSL cannot make a TLS session");
  std::unique_ptr<AdminTlsSession> session(new AdminTlsSession(ssl));
  if (SSL_set_fd(ssl, fd) != 1) return Status::Internal("OpenSSL cannot attach the socket");
  SSL_set_accept_state(ssl);
  return session;
}

// ---- AdminTlsSession ----

AdminTlsSession::~AdminTlsSession() { SSL_free(ssl_); }

TlsStep AdminTlsSession::Outcome(int ret, size_t bytes) {
  if (ret > 0) return TlsStep{TlsStep::kOk, bytes};
  const int error = SSL_get_error(ssl_, ret);
  ERR_clear_error();  // this thread's queue: the next connection starts clean
  switch (error) {
    case SSL_ERROR_WANT_READ: return TlsStep{TlsStep::kWantRead, 0};
    case SSL_ERROR_WANT_WRITE: return TlsStep{TlsStep::kWantWrite, 0};
    default: return TlsStep{TlsStep::kClosed, 0};  // close_notify, EOF, a refused handshake
  }
}

TlsStep AdminTlsSession::Handshake() {
  assert(!handshake_done_);
  ERR_clear_error();
  TlsStep step = Outcome(SSL_do_handshake(ssl_), 0);
  handshake_done_ = step.outcome == TlsStep::kOk;
  return step;
}

TlsStep AdminTlsSession::Read(char* buf, size_t size) {
  assert(handshake_done_ && size > 0);
  ERR_clear_error();
  size_t read = 0;
  const int ret = SSL_read_ex(ssl_, buf, size, &read);
  return Outcome(ret, read);
}

TlsStep AdminTlsSession::Write(const char* buf, size_t size) {
  assert(handshake_done_ && size > 0);
  ERR_clear_error();
  size_t written = 0;
  const int ret = SSL_write_ex(ssl_, buf, size, &written);
  return Outcome(ret, written);
}

TlsStep AdminTlsSession::Shutdown() {
  ERR_clear_error();
  const int ret = SSL_shutdown(ssl_);
  if (ret >= 0) return TlsStep{TlsStep::kOk, 0};  // 0: sent, the peer's not seen (not waited for)
  return Outcome(ret, 0);
}

bool AdminTlsSession::HasBufferedInput() const { return SSL_pending(ssl_) > 0; }

}  // namespace cairn::server
