#include "engine/id_window.h"

#include <cassert>
#include <cstring>

#include "common/bytes.h"
#include "crypto/secure.h"
#include "crypto/sha256.h"

namespace cairn::engine {
namespace {

struct Seeds {
  uint64_t a, b;
  std::string stream;
};

const Seeds& ProcessSeeds() {
  static const Seeds seeds = [] {
    std::string r = crypto::RandomString(32);
    return Seeds{DecodeU64(r.data()), DecodeU64(r.data() + 8), r.substr(16)};
  }();
  return seeds;
}

uint64_t Mix(uint64_t x) {  // splitmix64 finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

EventIdKey EventIdKey::From(std::string_view id16) {
  assert(id16.size() == 16);
  return {DecodeU64(id16.data()), DecodeU64(id16.data() + 8)};
}

size_t EventIdKeyHash::operator()(const EventIdKey& k) const {
  const Seeds& s = ProcessSeeds();
  return static_cast<size_t>(Mix(k.hi ^ s.a) ^ Mix(k.lo ^ s.b));
}

uint64_t StreamTag(std::string_view stream_id) {
  crypto::Sha256Hasher h;
  h.Update(ProcessSeeds().stream);
  h.Update(stream_id);
  const crypto::Hash d = h.Final();
  return DecodeU64(reinterpret_cast<const char*>(d.data()));
}

void IdWindow::Insert(const EventIdKey& key, const IdRecord& record) {
  if (capacity_ == 0) return;
  auto [it, inserted] = map_.insert_or_assign(key, record);
  if (!inserted) return;  // already tracked: keep its ring slot
  if (ring_.size() < capacity_) {
    ring_.push_back(key);
  } else {
    map_.erase(ring_[next_]);
    ring_[next_] = key;
    next_ = (next_ + 1) % capacity_;
  }
  assert(map_.size() <= capacity_);
}

void IdWindow::Clear() {
  map_.clear();
  ring_.clear();
  next_ = 0;
}

}  // namespace cairn::engine
