// An in-memory SubjectKeySource for protect/ tests: subject -> versions of random 32-byte keys,
// Destroy(subject) forgets every version, Rotate(subject) starts a new version, and an
// "unavailable" switch makes every call fail with kUnavailable (the KMS is down).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "crypto/secure.h"
#include "keys/subject_key_source.h"

namespace cairn::protect {

class FakeKeySource : public keys::SubjectKeySource {
 public:
  Result<keys::SubjectKey> KeyForWrite(std::string_view subject) override {
    std::lock_guard lock(mu_);
    ++write_calls_;
    if (unavailable_) return Status::Unavailable("fake KMS is down");
    auto& versions = by_subject_[std::string(subject)];
    if (versions.empty()) NewVersion(std::string(subject), versions);
    return keys::SubjectKey{versions.back(), keys_.at(versions.back())};
  }

  Result<keys::SubjectKey> KeyForRead(std::string_view kid) override {
    std::lock_guard lock(mu_);
    ++read_calls_;
    if (unavailable_) return Status::Unavailable("fake KMS is down");
    auto it = keys_.find(std::string(kid));
    if (it == keys_.end()) return Status::NotFound("subject key " + std::string(kid) + " destroyed");
    return keys::SubjectKey{it->first, it->second};
  }

  void Destroy(const std::string& subject) {
    std::lock_guard lock(mu_);
    for (const std::string& kid : by_subject_[subject]) keys_.erase(kid);
    by_subject_.erase(subject);
  }
  void Rotate(const std::string& subject) {
    std::lock_guard lock(mu_);
    NewVersion(subject, by_subject_[subject]);
  }
  void set_unavailable(bool v) {
    std::lock_guard lock(mu_);
    unavailable_ = v;
  }
  std::string CurrentKid(const std::string& subject) {
    std::lock_guard lock(mu_);
    auto it = by_subject_.find(subject);
    return it == by_subject_.end() || it->second.empty() ? "" : it->second.back();
  }
  int write_calls() const { return write_calls_; }
  int read_calls() const { return read_calls_; }

 private:
  void NewVersion(const std::string& subject, std::vector<std::string>& versions) {
    std::string kid = "k" + std::to_string(++next_kid_);  // random-looking enough; not the subject
    keys_[kid] = std::make_shared<const crypto::SecureBytes>(crypto::RandomSecret(32));
    versions.push_back(kid);
  }

  std::mutex mu_;
  bool unavailable_ = false;
  int next_kid_ = 0;
  int write_calls_ = 0;
  int read_calls_ = 0;
  std::map<std::string, std::vector<std::string>> by_subject_;
  std::map<std::string, std::shared_ptr<const crypto::SecureBytes>> keys_;
};

}  // namespace cairn::protect
