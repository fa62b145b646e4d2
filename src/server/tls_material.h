// TlsMaterial: the server's [tls] files — certificate chain, private key, client CA bundle — read
// and checked together, as the gRPC listener and the admin listener serve them, at start and on
// every reload (server/tls_reload.h).
//
// LoadTlsMaterial() refuses, with a one-line reason naming the setting and the file (never any
// key material): a file that cannot be read or is larger than 1 MiB; a key file that is not a
// regular file or that group or others may read (common/trusted_file.h); text that is not PEM; a
// key that is not the private key of the chain's first certificate; a client CA bundle that holds
// anything but certificates. It does not judge validity dates: the caller decides (a start serves
// an expired certificate and the posture check reports it; a reload refuses it).
//
// Thread safety: LoadTlsMaterial() is thread-safe. A TlsMaterial is a value; its destructor wipes
// the key.
#pragma once

#include <string>

#include "common/status.h"
#include "crypto/secure.h"
#include "crypto/x509.h"
#include "server/config.h"

namespace cairn::server {

struct TlsMaterial {
  std::string cert_chain_pem;  // the served certificate, then its intermediates
  crypto::SecureBytes key_pem;
  std::string client_ca_pem;   // "" without tls.client_ca
  size_t client_ca_certs = 0;  // certificates in client_ca_pem
  crypto::CertSummary cert;    // the served (first) certificate
};

// Reads and checks tls.cert, tls.key and tls.client_ca (see above). `tls.enabled` is not looked at.
Result<TlsMaterial> LoadTlsMaterial(const TlsSection& tls);

}  // namespace cairn::server
