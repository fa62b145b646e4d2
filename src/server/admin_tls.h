// TLS for the admin HTTP listener (server/admin_http.h): an OpenSSL server context made from PEM
// text, and the per-connection session that the listener's loop drives over a non-blocking
// socket.
//
// The context accepts TLS 1.2 and 1.3 (1.3 only with tls13_only), serves the certificate chain
// and key given, issues no session tickets and keeps no session cache (every connection makes a
// full handshake: the listener serves a few probes, scrapers and logs), and refuses
// renegotiation. With client_ca_pem, client certificates are requested and verified against it;
// a connection without one is refused when require_client_cert.
//
// Errors: Create() returns kInvalidArgument for PEM text that does not parse, a key that does not
// match the certificate, or a client CA without a certificate; nothing of the key is in a message.
// A session's failures (a handshake a client broke off, a certificate refused, a reset) are
// kClosed results: the listener closes that connection and serves the next.
//
// Thread safety: a context is immutable after Create() and may be shared by threads; a session
// belongs to one connection and is used by one thread at a time.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace cairn::server {

struct AdminTlsOptions {
  std::string cert_chain_pem;  // the listener's certificate, then its intermediates
  std::string key_pem;         // its private key; Create() wipes it
  std::string client_ca_pem;   // "" = client certificates are not requested
  bool require_client_cert = false;  // needs client_ca_pem
  bool tls13_only = false;
};

// What one step of a session did. kOk: `bytes` were read or written (0 for a finished handshake
// or shutdown); kWantRead / kWantWrite: try again when the socket is readable / writable;
// kClosed: the peer ended the connection (close_notify or EOF) or it failed.
struct TlsStep {
  enum Outcome { kOk, kWantRead, kWantWrite, kClosed };
  Outcome outcome = kClosed;
  size_t bytes = 0;
};

class AdminTlsSession {
 public:
  ~AdminTlsSession();
  AdminTlsSession(const AdminTlsSession&) = delete;
  AdminTlsSession& operator=(const AdminTlsSession&) = delete;

  TlsStep Handshake();
  bool handshake_done() const { return handshake_done_; }
  TlsStep Read(char* buf, size_t size);
  TlsStep Write(const char* buf, size_t size);  // may write part of it
  // Sends close_notify (not waiting for the peer's).
  TlsStep Shutdown();
  // Decrypted bytes already read from the socket: poll(2) will not announce them.
  bool HasBufferedInput() const;

 private:
  friend class AdminTlsContext;
  explicit AdminTlsSession(SSL* ssl) : ssl_(ssl) {}
  TlsStep Outcome(int ret, size_t bytes);

  SSL* ssl_;
  bool handshake_done_ = false;
};

class AdminTlsContext {
 public:
  static Result<std::shared_ptr<const AdminTlsContext>> Create(AdminTlsOptions options);
  ~AdminTlsContext();
  AdminTlsContext(const AdminTlsContext&) = delete;
  AdminTlsContext& operator=(const AdminTlsContext&) = delete;

  // A server session on the connected socket `fd` (not owned: the caller closes it after the
  // session is gone). kInternal when OpenSSL cannot allocate one.
  Result<std::unique_ptr<AdminTlsSession>> NewSession(int fd) const;

 private:
  explicit AdminTlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

}  // namespace cairn::server
