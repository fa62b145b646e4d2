// X.509 certificates for the dev set-up and for tests: a self-signed CA, certificates it issues,
// and the dev PKI that `cairn init` / the first `cairn serve --dev` writes (DESIGN.md, Identity and
// access). Production deployments bring their own PKI; nothing here is on a request path.
//
// Keys are ECDSA P-256 (EVP_PKEY_Q_keygen), signatures ECDSA with SHA-256, certificates X.509 v3
// with a random serial, subject and authority key identifiers, and critical basicConstraints and
// keyUsage. Private keys travel as unencrypted PKCS#8 PEM ("BEGIN PRIVATE KEY") in a KeyAndCert,
// which wipes them when it is destroyed or moved from.
//
// Errors: kInvalidArgument for a malformed request or unparsable PEM; kAlreadyExists when a file
// would be overwritten; kFailedPrecondition for an incomplete or too-open dev PKI directory;
// kIOError for file-system failures; kInternal when OpenSSL fails. Messages name paths and fields,
// never key material.
//
// Thread safety: every function is thread-safe (each call uses its own OpenSSL objects).
// CreateDevPki() is not safe against a concurrent CreateDevPki() on the same directory: one of the
// two fails with kAlreadyExists or kFailedPrecondition, and nothing is overwritten.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace cairn::crypto {

// Limits on a CertRequest. DNS and URI names are ASCII 0x21..0x7e (IA5String, no spaces).
inline constexpr size_t kCertCommonNameSizeBytesMax = 64;  // RFC 5280 ub-common-name
inline constexpr size_t kCertSubjectValueSizeBytesMax = 128;
inline constexpr size_t kCertExtraSubjectCountMax = 16;
inline constexpr size_t kCertSanCountMax = 64;  // per kind (DNS, IP, URI)
inline constexpr size_t kCertSanSizeBytesMax = 255;
inline constexpr size_t kCertPemSizeBytesMax = 64 * 1024;  // input PEM (cert or key)

// A private key and its certificate, both PEM. key_pem is wiped (OPENSSL_cleanse) on destruction
// and when moved from; copies are explicit and each is wiped in turn.
struct KeyAndCert {
  std::string key_pem;   // PKCS#8 PEM, unencrypted: a secret
  std::string cert_pem;  // X.509 PEM

  KeyAndCert() = default;
  KeyAndCert(std::string key, std::string cert)
      : key_pem(std::move(key)), cert_pem(std::move(cert)) {}
  ~KeyAndCert();
  KeyAndCert(const KeyAndCert& other) = default;
  KeyAndCert& operator=(const KeyAndCert& other);
  KeyAndCert(KeyAndCert&& other) noexcept;
  KeyAndCert& operator=(KeyAndCert&& other) noexcept;
};

struct CertRequest {
  enum class Usage {
    kServer,  // extKeyUsage serverAuth; keyUsage digitalSignature
    kClient,  // extKeyUsage clientAuth; keyUsage digitalSignature
    kCa,      // basicConstraints CA:TRUE, pathlen 0; keyUsage keyCertSign, cRLSign
  };

  // Subject: the extra_subject attributes in the given order, then CN last. The RFC 2253 text
  // form lists them in reverse, so {{"O","z"},{"OU","y"}} with CN "x" reads "CN=x,OU=y,O=z".
  // Attribute names are OpenSSL short names ("O", "OU", "C", "L", "ST", ...). CN may be empty
  // (then the subject is the extra attributes alone), but the whole subject may not be.
  std::string common_name;
  std::vector<std::pair<std::string, std::string>> extra_subject;
  std::vector<std::string> dns_sans;  // "localhost", "*.example.com"
  std::vector<std::string> ip_sans;   // "127.0.0.1", "::1"
  std::vector<std::string> uri_sans;  // "spiffe://acme/billing"
  // Validity in Unix seconds; not_after must be after not_before. Past windows are accepted so
  // tests can make expired certificates.
  int64_t not_before_unix_s = 0;
  int64_t not_after_unix_s = 0;
  // Must agree with `usage` (is_ca == (usage == Usage::kCa)); a mismatch is kInvalidArgument.
  bool is_ca = false;
  Usage usage = Usage::kServer;
};

// A self-signed CA certificate and its new key. The request must be a CA request
// (usage kCa, is_ca true). SANs are allowed but unusual on a CA.
Result<KeyAndCert> CreateSelfSignedCa(const CertRequest& request);

// A new key and a certificate for `request` signed by `issuer` (a CA certificate and its key; the
// key must match the certificate, and the certificate must be a CA). Leaves only: a kCa request is
// kInvalidArgument (CAs made here have pathlen 0). The serial is 16 random bytes with the top bit
// cleared (positive, 127 bits of entropy).
Result<KeyAndCert> IssueCertificate(const KeyAndCert& issuer, const CertRequest& request);

// The subject of the first certificate in `cert_pem`, RFC 2253 text ("CN=x,OU=y,O=z"; most
// specific first, non-ASCII bytes escaped as \XX).
Result<std::string> CertSubjectRfc2253(std::string_view cert_pem);

// OK when `key_pem` is the private key of the first certificate in `cert_pem`;
// kInvalidArgument naming `cert_what` or `key_what` when either does not parse or when they do
// not belong together (the message never holds key material).
Status CheckKeyMatchesCert(std::string_view cert_pem, std::string_view key_pem,
                           const char* cert_what, const char* key_what);

// The notAfter time (Unix seconds, UTC) of the first certificate in `cert_pem`
// (kInvalidArgument for unparsable PEM).
Result<int64_t> CertNotAfterUnixSeconds(std::string_view cert_pem);

// What a served certificate is, for logs, metrics and answers (nothing in it is secret).
struct CertSummary {
  std::string subject;         // RFC 2253, as CertSubjectRfc2253
  std::string sha256_hex;      // lowercase hex SHA-256 of the DER encoding (the fingerprint)
  int64_t not_before_unix_s = 0;
  int64_t not_after_unix_s = 0;
};

// The first certificate of `cert_pem` (a chain may follow it). kInvalidArgument naming `what`
// when it does not parse.
Result<CertSummary> SummarizeCert(std::string_view cert_pem, const char* what);

// The number of certificates in a PEM bundle (a CA file), each of which must parse; at most
// kCertBundleCountMax. kInvalidArgument naming `what` for an empty bundle, one that does not
// parse, anything but certificates between them, or too many.
inline constexpr size_t kCertBundleCountMax = 1000;
Result<size_t> CountBundleCerts(std::string_view pem, const char* what);

// Creates `path` with mode 0600 holding exactly `bytes`, and never overwrites: if `path` exists
// (as anything, including a symlink) the result is kAlreadyExists and nothing changes. The bytes
// go to a temporary file beside `path` (O_EXCL, 0600), are fsynced, and appear at `path` in one
// step (renameat2 RENAME_NOREPLACE; link(2) and unlink where the file system lacks it), followed
// by an fsync of the directory: a crash leaves either no `path` or the complete file, never a
// partial one. The parent directory must exist.
Status WritePrivateFile(const std::string& path, std::string_view bytes);

// The same with mode 0644, for certificates and other public files.
Status WritePublicFile(const std::string& path, std::string_view bytes);

// Like WritePrivateFile, with `mode`, but REPLACES `path` if it exists (rename(2)): a crash
// leaves the old file or the new one, never a partial one. For state a command keeps between
// runs (a verified checkpoint) and files a server re-reads (a policy).
Status ReplaceFile(const std::string& path, std::string_view bytes, mode_t mode);
// fsync(2) of a directory: makes a file created, renamed or removed in it durable.
Status SyncDirectory(const std::string& dir);

struct DevPkiFiles {
  std::string ca_cert;      // dir/ca.crt      0644
  std::string ca_key;       // dir/ca.key      0600
  std::string server_cert;  // dir/server.crt  0644
  std::string server_key;   // dir/server.key  0600
};

// The dev PKI in `dir` (created 0700 if missing; its parent must exist). Idempotent:
// - all four files present: nothing is written or re-generated;
// - none present: a CA (CN "cairn dev CA <8 random hex>", 10 years) and a server certificate it
//   issues (CN "localhost"; SANs DNS localhost, IP 127.0.0.1, IP ::1; serverAuth; 1 year), both
//   starting one minute in the past to tolerate clock skew;
// - ca.crt and ca.key present, server.crt and server.key both absent: the server pair is issued
//   by the existing CA.
// Any other mix (a certificate without its key or the reverse) is kFailedPrecondition: the
// directory is left for the operator to restore or remove. So is a key file that is not a regular
// file or is readable by group or others. *out gets the four paths on success (may be null).
Status CreateDevPki(const std::string& dir, DevPkiFiles* out);

}  // namespace cairn::crypto
