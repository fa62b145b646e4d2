#include "auth/verified_cache.h"

#include <algorithm>
#include <cassert>

#include "crypto/sha256.h"

namespace cairn::auth {

VerifiedCache::VerifiedCache(size_t entries_max, int64_t entry_age_s_max)
    : entries_max_(entries_max), entry_age_s_max_(entry_age_s_max) {
  assert(entries_max_ > 0);
  assert(entry_age_s_max_ > 0);
}

std::string VerifiedCache::Key(std::string_view kind, std::string_view credential) {
  std::string key(kind);
  key += crypto::HashView(crypto::Sha256(credential));
  return key;
}

std::optional<Principal> VerifiedCache::Find(std::string_view kind, std::string_view credential,
                                             int64_t now_unix_s, uint64_t generation) const {
  const std::string key = Key(kind, credential);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.valid_until_unix_s <= now_unix_s ||
      it->second.verified_at_unix_s > now_unix_s || it->second.generation != generation) {
    return std::nullopt;
  }
  return it->second.principal;
}

void VerifiedCache::Insert(std::string_view kind, std::string_view credential,
                           const Principal& principal, int64_t now_unix_s,
                           uint64_t generation) {
  int64_t valid_until = now_unix_s + entry_age_s_max_;
  if (principal.expires_unix_s > 0) valid_until = std::min(valid_until, principal.expires_unix_s);
  if (valid_until <= now_unix_s) return;
  std::string key = Key(kind, credential);
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = entries_.insert_or_assign(key, Entry{principal, now_unix_s, valid_until, generation});
  if (!inserted) return;  // refreshed in place; its position in order_ stays
  order_.push_back(std::move(key));
  while (entries_.size() > entries_max_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  assert(order_.size() == entries_.size());
}

size_t VerifiedCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace cairn::auth
