#include "keys/local_kms.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/bytes.h"
#include "crypto/aes_gcm.h"
#include "crypto/sha256.h"

namespace cairn::keys {
namespace {

constexpr std::string_view kKeyringHeader = "cairn-local-kek-v1 ";
constexpr uint8_t kWrapVersion = 1;
constexpr size_t kKeyringSizeBytesMax = 4096;

std::string WrapAad(std::string_view context) {
  std::string aad = "cairn-wrap-v1";
  PutLengthPrefixed(&aad, context);
  return aad;
}

Result<std::string> ReadSmallFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::NotFound("cannot open keyring " + path + ": " + std::strerror(errno));
  std::string buf(kKeyringSizeBytesMax + 1, '\0');
  ssize_t n = ::read(fd, buf.data(), buf.size());
  ::close(fd);
  if (n < 0 || static_cast<size_t>(n) > kKeyringSizeBytesMax) {
    crypto::Cleanse(&buf);
    return Status::InvalidArgument("keyring " + path + " is unreadable or too large");
  }
  buf.resize(static_cast<size_t>(n));
  return buf;
}

}  // namespace

Status CheckPrivateFile(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return Status::NotFound("cannot stat " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) return Status::FailedPrecondition(path + " is not a regular file");
  if (st.st_uid != ::geteuid()) {
    return Status::FailedPrecondition(path + " is not owned by the user running cairn");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::FailedPrecondition(path + " is accessible by group or others (mode " + mode +
                                      "); run: chmod 600 " + path);
  }
  return Status::Ok();
}

LocalKms::LocalKms(crypto::SecureBytes kek) : kek_(std::move(kek)) {
  // The id is a one-way fingerprint of the KEK under a fixed label: safe to show.
  std::string label = "cairn-kek-id-v1";
  label.append(kek_.view());
  crypto::Hash h = crypto::Sha256(label);
  crypto::Cleanse(&label);
  kek_id_ = "local:" + HexEncode(crypto::HashView(h).substr(0, 8));
}

Result<std::unique_ptr<LocalKms>> LocalKms::Create(const std::string& keyring_path) {
  crypto::SecureBytes kek = crypto::RandomSecret(crypto::kAes256KeySizeBytes);
  std::string line = std::string(kKeyringHeader) + Base64Encode(kek.span()) + "\n";
  int fd = ::open(keyring_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    crypto::Cleanse(&line);
    if (errno == EEXIST) return Status::AlreadyExists("keyring " + keyring_path + " already exists");
    return Status::IOError("cannot create keyring " + keyring_path + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  crypto::Cleanse(&line);
  if (!ok) return Status::IOError("cannot write keyring " + keyring_path);
  return std::unique_ptr<LocalKms>(new LocalKms(std::move(kek)));
}

Result<std::unique_ptr<LocalKms>> LocalKms::Open(const std::string& keyring_path) {
  CAIRN_RETURN_IF_ERROR(CheckPrivateFile(keyring_path));
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(keyring_path));
  std::string_view v = text;
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  std::optional<std::string> kek;
  if (v.substr(0, kKeyringHeader.size()) == kKeyringHeader) {
    kek = Base64Decode(v.substr(kKeyringHeader.size()));
  }
  crypto::Cleanse(&text);
  if (!kek || kek->size() != crypto::kAes256KeySizeBytes) {
    if (kek) crypto::Cleanse(&*kek);
    return Status::InvalidArgument("keyring " + keyring_path + " is not a cairn local keyring");
  }
  crypto::SecureBytes key(*kek);
  crypto::Cleanse(&*kek);
  return std::unique_ptr<LocalKms>(new LocalKms(std::move(key)));
}

Result<std::string> LocalKms::Wrap(std::string_view plaintext_key, std::string_view context) {
  if (plaintext_key.empty() || plaintext_key.size() > kWrapPlaintextSizeBytesMax) {
    return Status::InvalidArgument("wrapped secrets must be 1..4096 bytes");
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm gcm, crypto::AesGcm::Create(kek_.view()));
  std::string out(1, static_cast<char>(kWrapVersion));
  CAIRN_RETURN_IF_ERROR(gcm.Seal(WrapAad(context), plaintext_key, &out));
  return out;
}

Result<crypto::SecureBytes> LocalKms::Unwrap(std::string_view wrapped, std::string_view context) {
  if (wrapped.empty() || static_cast<uint8_t>(wrapped[0]) != kWrapVersion) {
    return Status::DataLoss("wrapped key has an unknown format");
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm gcm, crypto::AesGcm::Create(kek_.view()));
  std::string plain;
  Status s = gcm.Open(WrapAad(context), wrapped.substr(1), &plain);
  if (!s.ok()) return Status::DataLoss("cannot unwrap key '" + std::string(context) +
                                       "': wrong keyring or modified key material");
  crypto::SecureBytes out(plain);
  crypto::Cleanse(&plain);
  return out;
}

}  // namespace cairn::keys
