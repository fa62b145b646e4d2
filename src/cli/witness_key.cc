#include "cli/witness_key.h"

#include "common/trusted_file.h"
#include "crypto/secure.h"

namespace cairn::cli {

Result<integrity::NoteSigner> ReadCosignerKeyFile(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text,
                         ReadPrivateFile(path, "witness key file", kWitnessKeyFileSizeBytesMax));
  std::string_view key = text;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.remove_suffix(1);
  auto signer = integrity::ParseSignerKey(key, integrity::kCosignatureAlgorithmEd25519);
  crypto::Cleanse(&text);
  if (!signer.ok()) {
    return Status::InvalidArgument("witness key file " + path + ": " + signer.status().message());
  }
  return signer;
}

}  // namespace cairn::cli
