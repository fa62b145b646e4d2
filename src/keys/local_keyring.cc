#include "keys/local_keyring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

namespace cairn::keys {
namespace {

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty() && lines.size() <= kKekVersionsMax) {
    const size_t nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

Status FsyncDirOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("cannot open directory " + dir + ": " + std::strerror(errno));
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok ? Status::Ok() : Status::IOError("cannot sync directory " + dir);
}

// Replaces `path` by a file holding *text (mode 0600) atomically; wipes *text in every case.
Status ReplaceKeyring(const std::string& path, std::string* text) {
  const std::string tmp = path + ".new";
  ::unlink(tmp.c_str());  // a leftover of a crash mid-write; never the keyring itself
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    crypto::Cleanse(text);
    return Status::IOError("cannot create " + tmp + ": " + std::strerror(errno));
  }
  const bool ok = ::write(fd, text->data(), text->size()) == static_cast<ssize_t>(text->size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  crypto::Cleanse(text);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Status::IOError("cannot replace keyring " + path);
  }
  return FsyncDirOf(path);
}

// The keyring's lines with their hashes; *text keeps the bytes the views point into.
Result<std::vector<std::string_view>> ReadLines(const std::string& path, std::string* text) {
  CAIRN_ASSIGN_OR_RETURN(*text, ReadKeyringFile(path));
  std::vector<std::string_view> lines = SplitLines(*text);
  if (lines.empty()) return Status::InvalidArgument("keyring " + path + " is empty");
  if (lines.size() > kKekVersionsMax) {
    return Status::InvalidArgument("keyring " + path + " holds more than " +
                                   std::to_string(kKekVersionsMax) + " key versions");
  }
  return lines;
}

bool HasPassphraseSource(const LocalKmsOptions& o) {
  return !o.passphrase_file.empty() || !o.passphrase_env.empty();
}

}  // namespace

Result<std::unique_ptr<LocalKeyring>> LocalKeyring::Create(const LocalKmsOptions& options) {
  CAIRN_RETURN_IF_ERROR(LocalKms::Create(options).status());
  return Open(options);
}

Result<std::unique_ptr<LocalKeyring>> LocalKeyring::Open(const LocalKmsOptions& options) {
  std::unique_ptr<LocalKeyring> k(new LocalKeyring(options));
  CAIRN_RETURN_IF_ERROR(k->Load());
  return k;
}

Status LocalKeyring::Load() {
  std::string text;
  auto lines = ReadLines(options_.keyring_path, &text);
  if (!lines.ok()) {
    crypto::Cleanse(&text);
    return lines.status();
  }
  std::optional<crypto::SecureBytes> passphrase;
  if (HasPassphraseSource(options_)) {
    auto p = LocalKms::ReadPassphrase(options_);
    if (!p.ok()) {
      crypto::Cleanse(&text);
      return p.status();
    }
    passphrase = std::move(p).value();
  }
  std::vector<Version> versions;
  Status s;
  for (std::string_view line : *lines) {
    auto kms = LocalKms::FromKeyringLine(line, options_.keyring_path,
                                         passphrase ? &*passphrase : nullptr);
    if (!kms.ok()) {
      s = kms.status();
      break;
    }
    versions.push_back({std::shared_ptr<LocalKms>(std::move(kms).value()), crypto::Sha256(line)});
  }
  crypto::Cleanse(&text);
  CAIRN_RETURN_IF_ERROR(s);
  std::lock_guard<std::mutex> lock(mu_);
  versions_ = std::move(versions);
  return Status::Ok();
}

Result<size_t> LocalKeyring::ChangePassphrase(const std::string& keyring_path,
                                              const crypto::SecureBytes* old_passphrase,
                                              const crypto::SecureBytes& new_passphrase,
                                              const crypto::ScryptParams& params) {
  std::string text, changed;
  auto lines = ReadLines(keyring_path, &text);
  std::vector<std::string> ids;
  Status s = lines.status();
  for (size_t i = 0; s.ok() && i < lines->size(); ++i) {
    auto kms = LocalKms::FromKeyringLine((*lines)[i], keyring_path, old_passphrase);
    Result<std::string> line = kms.ok() ? (*kms)->KeyringLineUnder(new_passphrase, params)
                                        : Result<std::string>(kms.status());
    if (!line.ok()) {
      s = line.status();
      break;
    }
    ids.push_back((*kms)->kek_id());
    changed += *line;
    crypto::Cleanse(&*line);
  }
  crypto::Cleanse(&text);
  // What is written must open under the new passphrase to the same keys, before it is written.
  const std::vector<std::string_view> written = SplitLines(changed);
  assert(!s.ok() || written.size() == ids.size());
  for (size_t i = 0; s.ok() && i < ids.size(); ++i) {
    auto kms = LocalKms::FromKeyringLine(written[i], keyring_path, &new_passphrase);
    if (!kms.ok() || (*kms)->kek_id() != ids[i]) {
      s = Status::Internal("the re-sealed keyring does not open to the same keys; nothing changed");
    }
  }
  if (!s.ok()) {
    crypto::Cleanse(&changed);
    return s;
  }
  struct stat before {};
  const bool dated = ::stat(keyring_path.c_str(), &before) == 0;
  if (Status replaced = ReplaceKeyring(keyring_path, &changed); !replaced.ok()) {
    // The rename may have happened before what failed (syncing the directory): say which
    // passphrase opens the file now, since "nothing changed" would be untrue.
    auto now = ReadKeyringFile(keyring_path);
    const bool is_new = now.ok() && !SplitLines(*now).empty() &&
                        LocalKms::FromKeyringLine(SplitLines(*now).front(), keyring_path, &new_passphrase).ok();
    if (now.ok()) crypto::Cleanse(&*now);
    if (!is_new) return replaced;
    return Status::IOError(replaced.message() +
                           "; the keyring now opens with the NEW passphrase, but a crash may "
                           "bring back the old file: keep both passphrases until the next start");
  }
  // The keys are as old as before: keep the file's modification time, which `cairn doctor` reads
  // as the KEK's age (CAIRN-KEY-002). Best effort: the change itself is done.
  if (dated) {
    const struct timespec times[2] = {{0, UTIME_OMIT}, before.st_mtim};
    ::utimensat(AT_FDCWD, keyring_path.c_str(), times, 0);
  }
  return ids.size();
}

std::shared_ptr<LocalKms> LocalKeyring::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  assert(!versions_.empty());
  return versions_.back().kms;
}

std::vector<std::shared_ptr<LocalKms>> LocalKeyring::NewestFirst() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<LocalKms>> out;
  for (auto it = versions_.rbegin(); it != versions_.rend(); ++it) out.push_back(it->kms);
  return out;
}

std::string LocalKeyring::kek_id() const { return Current()->kek_id(); }

bool LocalKeyring::HasKek(std::string_view kek_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Version& v : versions_) {
    if (v.kms->kek_id() == kek_id) return true;
  }
  return false;
}

size_t LocalKeyring::kek_version_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return versions_.size();
}

Result<std::vector<crypto::Hash>> LocalKeyring::ReadLineHashes() const {
  std::string text;
  auto lines = ReadLines(options_.keyring_path, &text);
  std::vector<crypto::Hash> hashes;
  if (lines.ok()) {
    for (std::string_view line : *lines) hashes.push_back(crypto::Sha256(line));
  }
  crypto::Cleanse(&text);
  if (!lines.ok()) return lines.status();
  return hashes;
}

Status LocalKeyring::Health() {
  auto hashes = ReadLineHashes();
  if (!hashes.ok()) {
    return Status::Unavailable("keyring " + options_.keyring_path + " is unusable (" +
                               hashes.status().message() + "); no new key can be wrapped");
  }
  crypto::Hash current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current = versions_.back().line_hash;
  }
  for (const crypto::Hash& h : *hashes) {
    if (h == current) return Status::Ok();
  }
  return Status::Unavailable("keyring " + options_.keyring_path +
                             " no longer holds the key-encryption key in use (replaced?); no new "
                             "key can be wrapped");
}

Result<std::string> LocalKeyring::Wrap(std::string_view plaintext_key, std::string_view context) {
  CAIRN_RETURN_IF_ERROR(Health());
  return Current()->Wrap(plaintext_key, context);
}

Result<crypto::SecureBytes> LocalKeyring::Unwrap(std::string_view wrapped,
                                                 std::string_view context) {
  // Local blobs do not name their KEK: try the newest first (a wrong KEK fails authentication).
  Status last;
  for (const std::shared_ptr<LocalKms>& kms : NewestFirst()) {
    auto key = kms->Unwrap(wrapped, context);
    if (key.ok() || key.status().code() != StatusCode::kDataLoss) return key;
    last = key.status();
  }
  return last;
}

Result<std::string> LocalKeyring::AddKekVersion() {
  std::lock_guard<std::mutex> rotate(rotate_mu_);
  if (kek_version_count() >= kKekVersionsMax) {
    return Status::ResourceExhausted("keyring " + options_.keyring_path + " already holds " +
                                     std::to_string(kKekVersionsMax) + " key versions");
  }
  CAIRN_RETURN_IF_ERROR(Health());
  std::shared_ptr<LocalKms> current = Current();
  std::optional<crypto::SecureBytes> passphrase;
  if (current->passphrase_protected()) {
    CAIRN_ASSIGN_OR_RETURN(passphrase, LocalKms::ReadPassphrase(options_));
  }
  std::string text;
  auto lines = ReadLines(options_.keyring_path, &text);
  Result<std::unique_ptr<LocalKms>> check =
      lines.ok() ? LocalKms::FromKeyringLine(lines->back(), options_.keyring_path,
                                             passphrase ? &*passphrase : nullptr)
                 : Result<std::unique_ptr<LocalKms>>(lines.status());
  if (!check.ok() || (*check)->kek_id() != current->kek_id()) {
    crypto::Cleanse(&text);
    if (!check.ok()) return check.status();
    return Status::FailedPrecondition("keyring " + options_.keyring_path +
                                      " changed while cairn ran; restart before rotating");
  }
  std::string line;
  auto added = LocalKms::NewKeyringLine(passphrase ? &*passphrase : nullptr, options_.scrypt, &line);
  if (!added.ok()) {
    crypto::Cleanse(&text);
    return added.status();
  }
  const crypto::Hash line_hash = crypto::Sha256(std::string_view(line).substr(0, line.size() - 1));
  text += "\n";
  text += line;
  crypto::Cleanse(&line);
  CAIRN_RETURN_IF_ERROR(ReplaceKeyring(options_.keyring_path, &text));
  std::shared_ptr<LocalKms> kms(std::move(added).value());
  const std::string id = kms->kek_id();
  std::lock_guard<std::mutex> lock(mu_);
  versions_.push_back({std::move(kms), line_hash});
  return id;
}

Status LocalKeyring::RetireOldKekVersions() {
  std::lock_guard<std::mutex> rotate(rotate_mu_);
  if (kek_version_count() == 1) return Status::Ok();
  CAIRN_RETURN_IF_ERROR(Health());
  crypto::Hash current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current = versions_.back().line_hash;
  }
  std::string text;
  auto lines = ReadLines(options_.keyring_path, &text);
  std::string kept;
  if (lines.ok()) {
    for (std::string_view line : *lines) {
      if (crypto::Sha256(line) == current) {
        kept.reserve(line.size() + 1);  // one buffer: no freed copy of the key line
        kept.assign(line);
        kept += '\n';
      }
    }
  }
  crypto::Cleanse(&text);
  CAIRN_RETURN_IF_ERROR(lines.status());
  if (kept.empty()) return Status::Unavailable("keyring " + options_.keyring_path + " changed");
  CAIRN_RETURN_IF_ERROR(ReplaceKeyring(options_.keyring_path, &kept));
  std::lock_guard<std::mutex> lock(mu_);
  versions_.erase(versions_.begin(), versions_.end() - 1);
  return Status::Ok();
}

}  // namespace cairn::keys
