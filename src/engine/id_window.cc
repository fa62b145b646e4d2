#include "engine/id_window.h"

#include <bit>
#include <cassert>

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

uint64_t StreamTag(std::string_view stream_id) {
  crypto::Sha256Hasher h;
  h.Update(ProcessSeeds().stream);
  h.Update(stream_id);
  const crypto::Hash d = h.Final();
  return DecodeU64(reinterpret_cast<const char*>(d.data()));
}

IdWindow::IdWindow(size_t capacity) : capacity_(capacity) {
  if (capacity_ == 0) return;
  slots_.resize(std::bit_ceil(2 * capacity_));
  mask_ = slots_.size() - 1;
}

size_t IdWindow::Home(const EventIdKey& k) const {
  const Seeds& s = ProcessSeeds();
  return static_cast<size_t>(Mix(k.hi ^ s.a) ^ Mix(k.lo ^ s.b)) & mask_;
}

size_t IdWindow::SlotOf(const EventIdKey& key) const {
  size_t i = Home(key);
  while (slots_[i].used && !(slots_[i].key == key)) i = (i + 1) & mask_;
  return i;  // terminates: the table is at most half full
}

const IdRecord* IdWindow::Find(const EventIdKey& key) const {
  if (capacity_ == 0) return nullptr;
  const Slot& slot = slots_[SlotOf(key)];
  return slot.used ? &slot.record : nullptr;
}

void IdWindow::Insert(const EventIdKey& key, const IdRecord& record) {
  if (capacity_ == 0) return;
  Slot& slot = slots_[SlotOf(key)];
  if (slot.used) {  // already tracked: update, keep its ring slot
    slot.record = record;
    return;
  }
  if (ring_.size() == capacity_) {
    const EventIdKey oldest = ring_[next_];
    ring_[next_] = key;
    next_ = (next_ + 1) % capacity_;
    Erase(oldest);
    Slot& fresh = slots_[SlotOf(key)];  // erasing may have shifted the probe sequence
    fresh = {key, record, true};
  } else {
    ring_.push_back(key);
    slot = {key, record, true};
  }
  ++size_;
  assert(size_ <= capacity_);
}

// Backward-shift deletion keeps every probe sequence unbroken without tombstones.
void IdWindow::Erase(const EventIdKey& key) {
  size_t hole = SlotOf(key);
  if (!slots_[hole].used) return;
  --size_;
  for (size_t i = (hole + 1) & mask_; slots_[i].used; i = (i + 1) & mask_) {
    const size_t home = Home(slots_[i].key);
    // Move slot i into the hole unless its home lies cyclically in (hole, i].
    const bool home_in_range = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
    if (!home_in_range) {
      slots_[hole] = slots_[i];
      hole = i;
    }
  }
  slots_[hole].used = false;
}

void IdWindow::Clear() {
  for (Slot& s : slots_) s.used = false;
  size_ = 0;
  ring_.clear();
  next_ = 0;
}

}  // namespace cairn::engine
