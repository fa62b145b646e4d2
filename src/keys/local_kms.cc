#include "keys/local_kms.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "crypto/aes_gcm.h"
#include "crypto/hmac.h"
#include "crypto/sha256.h"
#include "crypto/x509.h"

namespace cairn::keys {
namespace {

constexpr std::string_view kKeyringHeader = "cairn-local-kek-v1 ";
constexpr std::string_view kKeyringV2Header = "cairn-local-kek-v2 ";
constexpr std::string_view kKeyringV3Header = "cairn-local-kek-v3 ";
constexpr std::string_view kKekSealAad = "cairn-local-kek-v3";
// IV || AES-256-GCM ciphertext of the 32-byte KEK || tag.
constexpr size_t kSealedKekSizeBytes = crypto::kGcmOverheadBytes + 32;
constexpr std::string_view kCheckLabel = "cairn-kek-check-v1";
constexpr size_t kKdfSaltSizeBytes = 32;
constexpr size_t kCheckSizeBytes = 32;
constexpr uint32_t kKeyringScryptPMax = 16;
// The work of one derivation grows with N * r * p: at most that of N=2^18, r=8, p=1 (8x the
// default), so that a modified keyring cannot make every start-up cost minutes of CPU.
constexpr uint64_t kKeyringScryptWorkMax = (uint64_t{1} << 18) * 8;
// 256 MiB (N=2^18 at r=8) plus OpenSSL's small extras: what start-up may be made to spend.
constexpr uint64_t kKeyringScryptMemoryBytesMax = (uint64_t{1} << 28) + (uint64_t{1} << 20);
constexpr uint8_t kWrapVersion = 1;
constexpr size_t kKeyringSizeBytesMax = 4096;

// "cairn-local-kek-v1 <base64 KEK>\n", built in one buffer sized up front, so that no
// reallocation or temporary leaves a copy of the KEK in freed memory; the caller cleanses it.
std::string KeyFileLine(const crypto::SecureBytes& kek) {
  std::string line;
  line.reserve(kKeyringHeader.size() + (kek.size() + 2) / 3 * 4 + 1);
  line += kKeyringHeader;
  AppendBase64(kek.span(), &line);
  line += '\n';
  return line;
}

std::string WrapAad(std::string_view context) {
  std::string aad = "cairn-wrap-v1";
  PutLengthPrefixed(&aad, context);
  return aad;
}

// Reads an fd from OpenPrivateFile and closes it.
Result<std::string> ReadSmallFile(const std::string& path, int fd) {
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


std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Creates `path` (0600, never over an existing file) holding `line`; wipes `line` in every
// case. Written beside it, fsynced and linked into place, then the directory fsynced
// (crypto::WritePrivateFile): a crash leaves no keyring or the whole one, never an empty or
// partial file that would make the data directory unusable.
Status WriteNewKeyring(const std::string& path, std::string* line) {
  Status written = crypto::WritePrivateFile(path, *line);
  crypto::Cleanse(line);
  if (written.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists("keyring " + path + " already exists");
  }
  return written.ok() ? written : written.Annotate("cannot create keyring " + path);
}


// HMAC-SHA256(kek, kCheckLabel): proves a KEK without revealing it.
Result<std::string> KekCheck(const crypto::SecureBytes& kek) {
  CAIRN_ASSIGN_OR_RETURN(crypto::Hash mac, crypto::HmacSha256(kek.view(), kCheckLabel));
  static_assert(sizeof(mac) == kCheckSizeBytes);
  return std::string(reinterpret_cast<const char*>(mac.data()), mac.size());
}

Status CheckPassphraseSize(const crypto::SecureBytes& passphrase) {
  if (passphrase.size() < kPassphraseSizeBytesMin || passphrase.size() > kPassphraseSizeBytesMax) {
    return Status::InvalidArgument("the keyring passphrase must be 12..1024 bytes");
  }
  return Status::Ok();
}

// Accepts what a v2 keyring may use: at least kKeyringScryptMin, p <= 16, memory <= 256 MiB,
// N * r * p <= kKeyringScryptWorkMax.
Status CheckKeyringScrypt(const crypto::ScryptParams& p) {
  if (p.n < kKeyringScryptMin.n || p.r < kKeyringScryptMin.r || p.p < kKeyringScryptMin.p ||
      p.p > kKeyringScryptPMax || (p.n & (p.n - 1)) != 0 ||
      crypto::ScryptMemoryBytes(p) > kKeyringScryptMemoryBytesMax) {
    return Status::InvalidArgument(
        "keyring scrypt parameters must be N a power of two >= 16384, r >= 8, 1 <= p <= 16, "
        "using at most 256 MiB");
  }
  // Memory bounds N * r (N * r * 128 bytes <= 2^28 + 2^20), so the product cannot overflow.
  if (p.n * p.r * p.p > kKeyringScryptWorkMax) {
    return Status::InvalidArgument(
        "keyring scrypt parameters must keep N * r * p at most 2097152 (N=2^18, r=8, p=1)");
  }
  return Status::Ok();
}

std::string V2Line(const crypto::ScryptParams& p, std::string_view salt, std::string_view check) {
  return std::string(kKeyringV2Header) + "scrypt N=" + std::to_string(p.n) +
         " r=" + std::to_string(p.r) + " p=" + std::to_string(p.p) +
         " salt=" + Base64Encode(salt) + " check=" + Base64Encode(check) + "\n";
}

std::string V3Line(const crypto::ScryptParams& p, std::string_view salt, std::string_view sealed) {
  return std::string(kKeyringV3Header) + "scrypt N=" + std::to_string(p.n) +
         " r=" + std::to_string(p.r) + " p=" + std::to_string(p.p) +
         " salt=" + Base64Encode(salt) + " kek=" + Base64Encode(sealed) + "\n";
}

// The fields of a v2 or v3 line: the scrypt cost, the salt, and the check (v2) or the sealed
// KEK (v3), by the name of the last field.
struct V2Keyring {
  crypto::ScryptParams params;
  std::string salt;
  std::string check;  // v2: HMAC check; v3: the sealed KEK
};

template <typename T>
bool ParseDecimal(std::string_view s, T* out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Parses "scrypt N=.. r=.. p=.. salt=.. <last>.." (after the v2 or v3 header), strictly:
// `last` is "check=" (v2, 32 bytes) or "kek=" (v3, a sealed KEK).
std::optional<V2Keyring> ParseScryptLine(std::string_view body, std::string_view last,
                                         size_t last_size_bytes) {
  std::vector<std::string_view> f;
  while (!body.empty()) {
    size_t sp = body.find(' ');
    f.push_back(body.substr(0, sp));
    if (sp == std::string_view::npos) break;
    body.remove_prefix(sp + 1);
    if (body.empty()) return std::nullopt;  // trailing space
  }
  auto value = [&](size_t i, std::string_view key) -> std::optional<std::string_view> {
    if (f[i].substr(0, key.size()) != key) return std::nullopt;
    return f[i].substr(key.size());
  };
  if (f.size() != 6 || f[0] != "scrypt") return std::nullopt;
  V2Keyring k;
  auto n = value(1, "N="), r = value(2, "r="), p = value(3, "p="), salt = value(4, "salt="),
       check = value(5, last);
  if (!n || !r || !p || !salt || !check) return std::nullopt;
  if (!ParseDecimal(*n, &k.params.n) || !ParseDecimal(*r, &k.params.r) ||
      !ParseDecimal(*p, &k.params.p)) {
    return std::nullopt;
  }
  auto salt_bytes = Base64Decode(*salt);
  auto check_bytes = Base64Decode(*check);
  if (!salt_bytes || salt_bytes->size() != kKdfSaltSizeBytes || !check_bytes ||
      check_bytes->size() != last_size_bytes) {
    return std::nullopt;
  }
  k.salt = std::move(*salt_bytes);
  k.check = std::move(*check_bytes);
  return k;
}

// Reads a passphrase file: opened first, then checked on the descriptor (no race with a rename),
// following symlinks (secret mounts are often symlinks) but requiring the target be private.
Result<crypto::SecureBytes> ReadPassphraseFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    return Status::NotFound("cannot open passphrase file " + path + ": " + std::strerror(errno));
  }
  struct stat st;
  Status s;
  if (::fstat(fd, &st) != 0) {
    s = Status::IOError("cannot stat passphrase file " + path + ": " + std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    s = Status::FailedPrecondition("passphrase file " + path + " is not a regular file");
  } else if (st.st_uid != ::geteuid()) {
    s = Status::FailedPrecondition("passphrase file " + path + " is not owned by the user running cairn");
  } else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    s = Status::FailedPrecondition("passphrase file " + path + " is accessible by group or others (mode " +
                                   ModeString(st.st_mode) + "); run: chmod 600 " + path);
  }
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  crypto::SecureBytes buf(kPassphraseSizeBytesMax + 3);  // room for "\r\n" and one byte too many
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Status::IOError("cannot read passphrase file " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  std::string_view v(reinterpret_cast<const char*>(buf.data()), got);
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
  return crypto::SecureBytes(v);
}

// A v2 or v3 line's fields (*k) and the key scrypt derives from `passphrase` for it: the KEK
// itself (v2) or the key that seals it (v3). Refuses a malformed line, a cost outside the limits
// and a passphrase outside 12..1024 bytes.
Result<crypto::SecureBytes> DeriveForLine(std::string_view body, std::string_view last,
                                          size_t last_size_bytes, const std::string& keyring_path,
                                          const crypto::SecureBytes& passphrase, V2Keyring* k) {
  std::optional<V2Keyring> parsed = ParseScryptLine(body, last, last_size_bytes);
  if (!parsed) return Status::InvalidArgument("keyring " + keyring_path + " is not a cairn local keyring");
  Status cost = CheckKeyringScrypt(parsed->params);
  if (!cost.ok()) return Status::InvalidArgument("keyring " + keyring_path + ": " + cost.message());
  CAIRN_RETURN_IF_ERROR(CheckPassphraseSize(passphrase));
  *k = std::move(*parsed);
  return crypto::Scrypt(passphrase.view(), k->salt, k->params, crypto::kAes256KeySizeBytes);
}

}  // namespace

Result<int> OpenPrivateFile(const std::string& path) {
  // Not through a symlink, and without blocking on a FIFO; then the checks on what was opened,
  // so that a file swapped in between cannot escape them.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0 && errno == ELOOP) {
    return Status::FailedPrecondition(path + " is not a regular file (a symlink)");
  }
  if (fd < 0) return Status::NotFound("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  Status s = ::fstat(fd, &st) == 0
                 ? CheckPrivateStat(path, st)
                 : Status::IOError("cannot stat " + path + ": " + std::strerror(errno));
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  return fd;
}

Status CheckPrivateStat(const std::string& path, const struct stat& st) {
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

Result<std::string> ReadKeyringFile(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(int fd, OpenPrivateFile(path));
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, fd));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

LocalKms::LocalKms(crypto::SecureBytes kek, bool passphrase_protected)
    : kek_(std::move(kek)), passphrase_protected_(passphrase_protected) {
  // The id is a one-way fingerprint of the KEK under a fixed label: safe to show.
  std::string label = "cairn-kek-id-v1";
  label.append(kek_.view());
  crypto::Hash h = crypto::Sha256(label);
  crypto::Cleanse(&label);
  kek_id_ = "local:" + HexEncode(crypto::HashView(h).substr(0, 8));
}

Result<std::unique_ptr<LocalKms>> LocalKms::Create(const std::string& keyring_path) {
  crypto::SecureBytes kek = crypto::RandomSecret(crypto::kAes256KeySizeBytes);
  std::string line = KeyFileLine(kek);
  CAIRN_RETURN_IF_ERROR(WriteNewKeyring(keyring_path, &line));
  return std::unique_ptr<LocalKms>(new LocalKms(std::move(kek), false));
}

Result<std::unique_ptr<LocalKms>> LocalKms::Open(const std::string& keyring_path) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadKeyringFile(keyring_path));
  auto kms = FromKeyringLine(text, keyring_path, nullptr);
  crypto::Cleanse(&text);
  return kms;
}

Result<std::unique_ptr<LocalKms>> LocalKms::FromKeyringLine(std::string_view v,
                                                            const std::string& keyring_path,
                                                            const crypto::SecureBytes* passphrase) {
  const bool v3 = v.substr(0, kKeyringV3Header.size()) == kKeyringV3Header;
  if (v3 || v.substr(0, kKeyringV2Header.size()) == kKeyringV2Header) {
    if (passphrase == nullptr) {
      return Status::FailedPrecondition("keyring " + keyring_path +
                                        " is protected by a passphrase and none was given (a "
                                        "passphrase file, or the variable " +
                                        std::string(kKekPassphraseEnv) + ")");
    }
    if (v3) return FromV3Line(v.substr(kKeyringV3Header.size()), keyring_path, *passphrase);
    return FromV2Line(v.substr(kKeyringV2Header.size()), keyring_path, *passphrase);
  }
  if (passphrase != nullptr && v.substr(0, kKeyringHeader.size()) == kKeyringHeader) {
    return Status::FailedPrecondition("keyring " + keyring_path +
                                      " holds its key and takes no passphrase; remove the "
                                      "passphrase setting");
  }
  std::optional<std::string> kek;
  if (v.substr(0, kKeyringHeader.size()) == kKeyringHeader) {
    kek = Base64Decode(v.substr(kKeyringHeader.size()));
  }
  if (!kek || kek->size() != crypto::kAes256KeySizeBytes) {
    if (kek) crypto::Cleanse(&*kek);
    return Status::InvalidArgument("keyring " + keyring_path + " is not a cairn local keyring");
  }
  crypto::SecureBytes key(*kek);
  crypto::Cleanse(&*kek);
  return std::unique_ptr<LocalKms>(new LocalKms(std::move(key), false));
}

Result<std::unique_ptr<LocalKms>> LocalKms::NewKeyringLine(const crypto::SecureBytes* passphrase,
                                                           const crypto::ScryptParams& params,
                                                           std::string* line) {
  if (passphrase == nullptr) {
    crypto::SecureBytes kek = crypto::RandomSecret(crypto::kAes256KeySizeBytes);
    *line = KeyFileLine(kek);
    return std::unique_ptr<LocalKms>(new LocalKms(std::move(kek), false));
  }
  CAIRN_RETURN_IF_ERROR(CheckPassphraseSize(*passphrase));
  CAIRN_RETURN_IF_ERROR(CheckKeyringScrypt(params));
  const std::string salt = crypto::RandomString(kKdfSaltSizeBytes);
  CAIRN_ASSIGN_OR_RETURN(crypto::SecureBytes kek, crypto::Scrypt(passphrase->view(), salt, params,
                                                                 crypto::kAes256KeySizeBytes));
  CAIRN_ASSIGN_OR_RETURN(std::string check, KekCheck(kek));
  *line = V2Line(params, salt, check);
  return std::unique_ptr<LocalKms>(new LocalKms(std::move(kek), true));
}

Result<crypto::SecureBytes> LocalKms::ReadPassphrase(const LocalKmsOptions& options) {
  const bool file = !options.passphrase_file.empty();
  const bool env = !options.passphrase_env.empty();
  if (file == env) {
    return Status::InvalidArgument("give exactly one passphrase source: a file or an environment variable");
  }
  crypto::SecureBytes passphrase;
  if (file) {
    CAIRN_ASSIGN_OR_RETURN(passphrase, ReadPassphraseFile(options.passphrase_file));
  } else {
    const char* value = std::getenv(options.passphrase_env.c_str());
    if (value == nullptr) {
      return Status::FailedPrecondition("the environment variable " + options.passphrase_env +
                                        " (the keyring passphrase) is not set");
    }
    passphrase = crypto::SecureBytes(std::string_view(value));
  }
  CAIRN_RETURN_IF_ERROR(CheckPassphraseSize(passphrase));
  return passphrase;
}

Result<std::unique_ptr<LocalKms>> LocalKms::Create(const LocalKmsOptions& options) {
  if (options.passphrase_file.empty() && options.passphrase_env.empty()) {
    return Create(options.keyring_path);
  }
  // Checked before the passphrase is read, so a bad configuration fails without touching it.
  CAIRN_RETURN_IF_ERROR(CheckKeyringScrypt(options.scrypt));
  CAIRN_ASSIGN_OR_RETURN(crypto::SecureBytes passphrase, ReadPassphrase(options));
  return CreateWithPassphrase(options.keyring_path, passphrase, options.scrypt);
}

Result<std::unique_ptr<LocalKms>> LocalKms::Open(const LocalKmsOptions& options) {
  if (options.passphrase_file.empty() && options.passphrase_env.empty()) {
    return Open(options.keyring_path);
  }
  // Refuse a v1 keyring before reading the passphrase: it would protect nothing.
  {
    CAIRN_ASSIGN_OR_RETURN(std::string text, ReadKeyringFile(options.keyring_path));
    const bool v2 = std::string_view(text).substr(0, kKeyringV2Header.size()) == kKeyringV2Header ||
                    std::string_view(text).substr(0, kKeyringV3Header.size()) == kKeyringV3Header;
    const bool v1 = std::string_view(text).substr(0, kKeyringHeader.size()) == kKeyringHeader;
    crypto::Cleanse(&text);
    if (v1) {
      return Status::FailedPrecondition("keyring " + options.keyring_path +
                                        " holds its key and takes no passphrase; remove the "
                                        "passphrase setting");
    }
    if (!v2) {
      return Status::InvalidArgument("keyring " + options.keyring_path + " is not a cairn local keyring");
    }
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::SecureBytes passphrase, ReadPassphrase(options));
  return OpenWithPassphrase(options.keyring_path, passphrase);
}

Result<std::unique_ptr<LocalKms>> LocalKms::CreateWithPassphrase(
    const std::string& keyring_path, const crypto::SecureBytes& passphrase,
    const crypto::ScryptParams& params) {
  std::string line;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<LocalKms> kms, NewKeyringLine(&passphrase, params, &line));
  CAIRN_RETURN_IF_ERROR(WriteNewKeyring(keyring_path, &line));
  return kms;
}

Result<std::unique_ptr<LocalKms>> LocalKms::OpenWithPassphrase(const std::string& keyring_path,
                                                               const crypto::SecureBytes& passphrase) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, ReadKeyringFile(keyring_path));
  auto kms = FromKeyringLine(text, keyring_path, &passphrase);
  crypto::Cleanse(&text);
  return kms;
}

Result<std::unique_ptr<LocalKms>> LocalKms::FromV2Line(std::string_view body,
                                                       const std::string& keyring_path,
                                                       const crypto::SecureBytes& passphrase) {
  V2Keyring k;
  CAIRN_ASSIGN_OR_RETURN(crypto::SecureBytes kek,
                         DeriveForLine(body, "check=", kCheckSizeBytes, keyring_path, passphrase, &k));
  CAIRN_ASSIGN_OR_RETURN(std::string check, KekCheck(kek));
  if (!crypto::ConstantTimeEquals(check, k.check)) {
    return Status::PermissionDenied("wrong passphrase for keyring " + keyring_path);
  }
  return std::unique_ptr<LocalKms>(new LocalKms(std::move(kek), true));
}

Result<std::unique_ptr<LocalKms>> LocalKms::FromV3Line(std::string_view body,
                                                       const std::string& keyring_path,
                                                       const crypto::SecureBytes& passphrase) {
  V2Keyring k;
  CAIRN_ASSIGN_OR_RETURN(crypto::SecureBytes sealing,
                         DeriveForLine(body, "kek=", kSealedKekSizeBytes, keyring_path, passphrase, &k));
  CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm gcm, crypto::AesGcm::Create(sealing.view()));
  std::string kek;
  kek.reserve(crypto::kAes256KeySizeBytes);  // one buffer: no freed copy of the KEK
  if (!gcm.Open(kKekSealAad, k.check, &kek).ok() || kek.size() != crypto::kAes256KeySizeBytes) {
    crypto::Cleanse(&kek);
    return Status::PermissionDenied("wrong passphrase for keyring " + keyring_path);
  }
  crypto::SecureBytes key(kek);
  crypto::Cleanse(&kek);
  return std::unique_ptr<LocalKms>(new LocalKms(std::move(key), true));
}

Result<std::string> LocalKms::KeyringLineUnder(const crypto::SecureBytes& passphrase,
                                               const crypto::ScryptParams& params) const {
  CAIRN_RETURN_IF_ERROR(CheckPassphraseSize(passphrase));
  CAIRN_RETURN_IF_ERROR(CheckKeyringScrypt(params));
  const std::string salt = crypto::RandomString(kKdfSaltSizeBytes);
  CAIRN_ASSIGN_OR_RETURN(crypto::SecureBytes sealing, crypto::Scrypt(passphrase.view(), salt, params,
                                                                     crypto::kAes256KeySizeBytes));
  CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm gcm, crypto::AesGcm::Create(sealing.view()));
  std::string sealed;
  CAIRN_RETURN_IF_ERROR(gcm.Seal(kKekSealAad, kek_.view(), &sealed));
  assert(sealed.size() == kSealedKekSizeBytes);
  return V3Line(params, salt, sealed);  // the KEK sealed: no plaintext key in the line
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
