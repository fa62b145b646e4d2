#include "server/tls_material.h"

#include "common/trusted_file.h"

namespace cairn::server {
namespace {

constexpr size_t kPemFileSizeBytesMax = 1 << 20;

Result<std::string> ReadPublicPem(const std::string& path, std::string_view setting) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, setting, kPemFileSizeBytesMax));
  if (text.find("-----BEGIN") == std::string::npos) {
    return Status::InvalidArgument(std::string(setting) + ": " + path + " is not a PEM file");
  }
  return text;
}

// Read with ReadPrivateFile (mode and ownership checked); the text is wiped on every path.
Result<crypto::SecureBytes> ReadKeyPem(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadPrivateFile(path, "tls.key", kPemFileSizeBytesMax));
  crypto::SecureBytes key(text);
  crypto::Cleanse(&text);
  if (key.view().find("-----BEGIN") == std::string_view::npos) {
    return Status::InvalidArgument("tls.key: " + path + " is not a PEM file");
  }
  return key;
}

}  // namespace

Result<TlsMaterial> LoadTlsMaterial(const TlsSection& tls) {
  TlsMaterial material;
  CAIRN_ASSIGN_OR_RETURN(material.cert_chain_pem, ReadPublicPem(tls.cert, "tls.cert"));
  CAIRN_ASSIGN_OR_RETURN(material.key_pem, ReadKeyPem(tls.key));
  // Said now, in words: gRPC would only fail to listen (or to reload), naming neither file.
  CAIRN_RETURN_IF_ERROR(crypto::CheckKeyMatchesCert(
      material.cert_chain_pem, material.key_pem.view(), "tls.cert", "tls.key"));
  CAIRN_ASSIGN_OR_RETURN(material.cert, crypto::SummarizeCert(material.cert_chain_pem, "tls.cert"));
  if (!tls.client_ca.empty()) {
    CAIRN_ASSIGN_OR_RETURN(material.client_ca_pem, ReadPublicPem(tls.client_ca, "tls.client_ca"));
    CAIRN_ASSIGN_OR_RETURN(material.client_ca_certs,
                           crypto::CountBundleCerts(material.client_ca_pem, "tls.client_ca"));
  }
  return material;
}

}  // namespace cairn::server
