#include "keys/pkcs11_keyring.h"
#include "common/bytes.h"
#include "common/steady_clock.h"
#include "crypto/sha256.h"

#include <sys/stat.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <charconv>
#include <mutex>

namespace cairn::keys {
namespace {

constexpr uint32_t kVersionNumberMax = 1000000;

int64_t NowMs() { return SteadyNowMs(); }

}  // namespace

uint32_t Pkcs11Keyring::VersionOfLabel(std::string_view base, std::string_view label) {
  if (label == base) return 1;
  if (label.size() <= base.size() + 2 || label.substr(0, base.size()) != base ||
      label.substr(base.size(), 2) != ".v") {
    return 0;
  }
  std::string_view digits = label.substr(base.size() + 2);
  if (digits[0] == '0') return 0;
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size()) return 0;
  return n >= 2 && n <= kVersionNumberMax ? n : 0;
}

std::string Pkcs11Keyring::LabelOfVersion(const std::string& base, uint32_t version) {
  assert(version >= 1);
  return version == 1 ? base : base + ".v" + std::to_string(version);
}

Result<std::unique_ptr<Pkcs11Keyring>> Pkcs11Keyring::Open(const Pkcs11Options& options,
                                                           bool create_if_missing,
                                                           int64_t reopen_interval_ms) {
  if (options.key_label.empty()) return Status::InvalidArgument("pkcs11: key_label is not set");
  std::unique_ptr<Pkcs11Keyring> k(new Pkcs11Keyring(options, reopen_interval_ms));
  std::unique_lock<std::shared_mutex> lock(k->versions_mu_);
  CAIRN_RETURN_IF_ERROR(k->LoadLocked(create_if_missing, /*release_first=*/true));
  lock.unlock();
  k->last_reopen_ms_ = NowMs();
  return k;
}

Status Pkcs11Keyring::LoadLocked(bool create_if_missing, bool release_first) {
  if (release_first) versions_.clear();  // so that the module is finalised, slots read afresh
  CAIRN_ASSIGN_OR_RETURN(std::vector<std::string> labels, Pkcs11Kms::ListKeyLabels(options_));
  std::vector<uint32_t> numbers;
  for (const std::string& label : labels) {
    if (uint32_t n = VersionOfLabel(options_.key_label, label); n != 0) numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  const bool none = numbers.empty();
  if (none) numbers.push_back(1);  // Open() names the missing label, or creates it
  if (numbers.size() > kKekVersionsMax) {
    return Status::FailedPrecondition("pkcs11: more than " + std::to_string(kKekVersionsMax) +
                                      " versions of key '" + options_.key_label +
                                      "' on the token");
  }
  std::vector<Version> versions;
  std::vector<std::string> ids;
  for (uint32_t n : numbers) {
    Pkcs11Options o = options_;
    o.key_label = LabelOfVersion(options_.key_label, n);
    o.create_key_if_missing = none && create_if_missing;
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Kms> kms, Pkcs11Kms::Open(o));
    ids.push_back(kms->kek_id());
    versions.push_back({n, std::move(kms)});
  }
  versions_ = std::move(versions);
  kek_ids_ = std::move(ids);
  last_error_ = Status::Ok();
  return Status::Ok();
}

namespace {

// What identifies the PIN the options give without reading it: the PIN file's inode, size and
// mtime, or a hash of the environment variable's value ("" when neither can be looked at).
std::string PinSourceFingerprint(const Pkcs11Options& o) {
  if (!o.pin_file.empty()) {
    struct stat st {};
    if (::stat(o.pin_file.c_str(), &st) != 0) return "";
    return "file:" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  }
  const char* value = o.pin_env.empty() ? nullptr : std::getenv(o.pin_env.c_str());
  if (value == nullptr) return "";
  return "env:" + HexEncode(crypto::Sha256(value));
}

}  // namespace

bool Pkcs11Keyring::TryReopen(bool token_failed) {
  const int64_t now = NowMs();
  int64_t last = last_reopen_ms_.load();
  const int64_t wait_ms = std::max(reopen_interval_ms_, reopen_wait_ms_.load());
  if (now - last < wait_ms || !last_reopen_ms_.compare_exchange_strong(last, now)) {
    return false;
  }
  std::unique_lock<std::shared_mutex> lock(versions_mu_);
  const std::string pin_source = PinSourceFingerprint(options_);
  if (!refused_pin_source_.empty() && pin_source == refused_pin_source_) {
    return false;  // the PIN the token refused: not offered again
  }
  Status s = LoadLocked(/*create_if_missing=*/false, /*release_first=*/token_failed);
  if (!s.ok()) {
    if (token_failed) versions_.clear();
    last_error_ = s;
    if (s.code() == StatusCode::kPermissionDenied) refused_pin_source_ = pin_source;
    reopen_wait_ms_.store(std::min(kReopenIntervalMsMax, 2 * wait_ms));
    return false;
  }
  refused_pin_source_.clear();
  reopen_wait_ms_.store(0);
  return true;
}

template <typename T, typename F>
Result<T> Pkcs11Keyring::WithRetry(F&& op) {
  Status first;
  {
    std::shared_lock<std::shared_mutex> lock(versions_mu_);
    if (!versions_.empty()) {
      Result<T> r = op();
      if (r.ok() || r.status().code() != StatusCode::kUnavailable) return r;
      first = r.status();
    } else {
      first = Status::Unavailable("pkcs11: the token is unavailable (" + last_error_.message() + ")");
    }
  }
  const bool reopened = TryReopen(/*token_failed=*/true);
  std::shared_lock<std::shared_mutex> lock(versions_mu_);
  if (reopened && !versions_.empty()) return op();
  if (versions_.empty()) {  // the latest reason (the reopen's, when it ran)
    return Status::Unavailable("pkcs11: the token is unavailable (" + last_error_.message() + ")");
  }
  return first;
}

std::string Pkcs11Keyring::kek_id() const {
  std::shared_lock<std::shared_mutex> lock(versions_mu_);
  assert(!kek_ids_.empty());
  return kek_ids_.back();
}

bool Pkcs11Keyring::HasKek(std::string_view kek_id) const {
  std::shared_lock<std::shared_mutex> lock(versions_mu_);
  return std::find(kek_ids_.begin(), kek_ids_.end(), kek_id) != kek_ids_.end();
}

size_t Pkcs11Keyring::kek_version_count() const {
  std::shared_lock<std::shared_mutex> lock(versions_mu_);
  return kek_ids_.size();
}

Result<std::string> Pkcs11Keyring::Wrap(std::string_view plaintext_key, std::string_view context) {
  return WithRetry<std::string>([&] { return versions_.back().kms->Wrap(plaintext_key, context); });
}

Result<crypto::SecureBytes> Pkcs11Keyring::Unwrap(std::string_view wrapped,
                                                  std::string_view context) {
  auto unwrap = [&]() -> Result<crypto::SecureBytes> {
    Status last;
    for (auto it = versions_.rbegin(); it != versions_.rend(); ++it) {
      auto key = it->kms->Unwrap(wrapped, context);  // another version's blob: kDataLoss at once
      if (key.ok() || key.status().code() != StatusCode::kDataLoss) return key;
      last = key.status();
    }
    return last;
  };
  Result<crypto::SecureBytes> key = WithRetry<crypto::SecureBytes>(unwrap);
  // No version opens it because it names a KEK this keyring has not loaded: another node sharing
  // the token and the store may have added a newer version and re-wrapped this key under it.
  // Look at the token again (at most once per reopen_interval_ms, like a token that went away)
  // and try once more. A damaged blob under a known KEK does not make it reload.
  if (key.ok() || key.status().code() != StatusCode::kDataLoss) return key;
  const std::optional<std::string> named = Pkcs11Kms::KekIdOfBlob(wrapped);
  if (!named || HasKek(*named) || !TryReopen(/*token_failed=*/false)) return key;
  std::shared_lock<std::shared_mutex> lock(versions_mu_);
  if (versions_.empty()) return key;
  return unwrap();
}

Status Pkcs11Keyring::Health() {
  return WithRetry<bool>([&]() -> Result<bool> {
           CAIRN_RETURN_IF_ERROR(versions_.back().kms->Health());
           return true;
         })
      .status();
}

Result<std::string> Pkcs11Keyring::AddKekVersion() {
  std::unique_lock<std::shared_mutex> lock(versions_mu_);
  if (versions_.empty()) return Status::Unavailable("pkcs11: the token is unavailable");
  if (versions_.size() >= kKekVersionsMax) {
    return Status::ResourceExhausted("pkcs11: " + std::to_string(kKekVersionsMax) +
                                     " key versions exist already");
  }
  const uint32_t n = versions_.back().number + 1;
  if (n > kVersionNumberMax) return Status::ResourceExhausted("pkcs11: out of key versions");
  Pkcs11Options o = options_;
  o.key_label = LabelOfVersion(options_.key_label, n);
  o.create_key_if_missing = true;
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Pkcs11Kms> kms, Pkcs11Kms::Open(o));
  const std::string id = kms->kek_id();
  versions_.push_back({n, std::move(kms)});
  kek_ids_.push_back(id);
  return id;
}

Status Pkcs11Keyring::RetireOldKekVersions() {
  std::unique_lock<std::shared_mutex> lock(versions_mu_);
  if (versions_.empty()) return Status::Unavailable("pkcs11: the token is unavailable");
  while (versions_.size() > 1) {
    CAIRN_RETURN_IF_ERROR(versions_.front().kms->DestroyKek());
    versions_.erase(versions_.begin());
    kek_ids_.erase(kek_ids_.begin());
  }
  return Status::Ok();
}

}  // namespace cairn::keys
