#include "server/tls_credentials.h"

#include "common/trusted_file.h"
#include "crypto/secure.h"
#include "crypto/x509.h"
#include "server/tls_min_version.h"

namespace cairn::server {
namespace {

constexpr size_t kPemFileSizeBytesMax = 1 << 20;

// `secret`: a private key, read with ReadPrivateFile and wiped on every error path.
Result<std::string> ReadPemFile(const std::string& path, std::string_view setting,
                                bool secret = false) {
  CAIRN_ASSIGN_OR_RETURN(std::string text,
                         secret ? ReadPrivateFile(path, setting, kPemFileSizeBytesMax)
                                : ReadSmallFile(path, setting, kPemFileSizeBytesMax));
  if (text.find("-----BEGIN") == std::string::npos) {
    if (secret) crypto::Cleanse(&text);
    return Status::InvalidArgument(std::string(setting) + ": " + path + " is not a PEM file");
  }
  return text;
}

}  // namespace

Result<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsSection& tls) {
  if (!tls.enabled) return grpc::InsecureServerCredentials();
  auto cert = ReadPemFile(tls.cert, "tls.cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadPemFile(tls.key, "tls.key", /*secret=*/true);
  if (!key.ok()) return key.status();
  // Said now, in words: gRPC would only fail to listen, naming neither file.
  if (Status match = crypto::CheckKeyMatchesCert(*cert, *key, "tls.cert", "tls.key"); !match.ok()) {
    crypto::Cleanse(&key.value());
    return match;
  }
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!tls.client_ca.empty()) {
    auto ca = ReadPemFile(tls.client_ca, "tls.client_ca");
    if (!ca.ok()) {
      crypto::Cleanse(&key.value());
      return ca.status();
    }
    options.pem_root_certs = std::move(ca).value();
    options.client_certificate_request =
        tls.require_client_cert ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  options.pem_key_cert_pairs.push_back({std::move(key).value(), std::move(cert).value()});
  const TlsMinVersion min = tls.min_version == "1.3" ? TlsMinVersion::k13 : TlsMinVersion::k12;
  auto credentials = SslServerCredentialsWithMinVersion(options, min);
  crypto::Cleanse(&options.pem_key_cert_pairs.front().private_key);
  return credentials;
}

Result<std::shared_ptr<const AdminTlsContext>> MakeAdminTlsContext(const TlsSection& tls) {
  if (!tls.enabled) return Status::FailedPrecondition("the admin listener's TLS needs tls.enabled");
  AdminTlsOptions options;
  CAIRN_ASSIGN_OR_RETURN(options.cert_chain_pem, ReadPemFile(tls.cert, "tls.cert"));
  CAIRN_ASSIGN_OR_RETURN(options.key_pem, ReadPemFile(tls.key, "tls.key", /*secret=*/true));
  if (!tls.client_ca.empty()) {
    Result<std::string> ca = ReadPemFile(tls.client_ca, "tls.client_ca");
    if (!ca.ok()) {
      crypto::Cleanse(&options.key_pem);
      return ca.status();
    }
    options.client_ca_pem = std::move(ca).value();
    options.require_client_cert = tls.require_client_cert;
  }
  options.tls13_only = tls.min_version == "1.3";
  return AdminTlsContext::Create(std::move(options));  // wipes the key
}

}  // namespace cairn::server
