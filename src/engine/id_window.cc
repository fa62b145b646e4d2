#include "engine/id_window.h"

#include <algorithm>
#include <bit>
#include <cassert>

#include "common/bytes.h"
#include "common/content_type.h"
#include "engine/event_codec.h"
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

uint64_t ContentTag(std::string_view event_type, std::string_view content_type,
                    const unsigned char* metadata_hash32, const unsigned char* data_hash32,
                    std::string_view stored_data) {
  static constexpr unsigned char kNoData[32] = {};
  const bool has_protected_fields = IsJsonContentType(content_type) &&
                                    stored_data.find(R"({"$enc":"v1")") != std::string_view::npos;
  std::string lengths;
  PutU32(&lengths, static_cast<uint32_t>(event_type.size()));
  PutU32(&lengths, static_cast<uint32_t>(content_type.size()));
  crypto::Sha256Hasher h;
  h.Update("cairn-content-v1");
  h.Update(lengths);
  h.Update(event_type);
  h.Update(content_type);
  h.Update(std::string_view(reinterpret_cast<const char*>(metadata_hash32), 32));
  h.Update(std::string_view(reinterpret_cast<const char*>(has_protected_fields ? kNoData : data_hash32), 32));
  const crypto::Hash d = h.Final();
  const uint64_t tag = DecodeU64(reinterpret_cast<const char*>(d.data()));
  return tag == 0 ? 1 : tag;
}

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
  assert(capacity_ <= kCapacityMax);
  if (capacity_ == 0) return;
  slots_.resize(std::bit_ceil(2 * capacity_));
  mask_ = slots_.size() - 1;
  entries_.reserve(capacity_);
}

uint32_t IdWindow::Hash(const EventIdKey& k) const {
  const Seeds& s = ProcessSeeds();
  return static_cast<uint32_t>(Mix(k.hi ^ s.a) ^ Mix(k.lo ^ s.b));
}

size_t IdWindow::FindSlot(const EventIdKey& key, uint32_t hash) const {
  size_t i = hash & mask_;
  while (slots_[i].entry != 0 &&
         !(slots_[i].hash == hash && entries_[slots_[i].entry - 1].key == key)) {
    i = (i + 1) & mask_;
  }
  return i;  // terminates: the table is at most half full
}

size_t IdWindow::SlotOfEntry(size_t index, uint32_t hash) const {
  size_t i = hash & mask_;
  while (slots_[i].entry != index + 1) {
    assert(slots_[i].entry != 0);  // every entry is in the table
    i = (i + 1) & mask_;
  }
  return i;
}

const IdRecord* IdWindow::Find(const EventIdKey& key) const {
  if (capacity_ == 0) return nullptr;
  const Slot& slot = slots_[FindSlot(key, Hash(key))];
  return slot.entry != 0 ? &entries_[slot.entry - 1].record : nullptr;
}

void IdWindow::Insert(const EventIdKey& key, const IdRecord& record) {
  if (capacity_ == 0) return;
  const uint32_t hash = Hash(key);
  size_t slot = FindSlot(key, hash);
  if (slots_[slot].entry != 0) {  // already tracked: update, keep its place in the ring
    entries_[slots_[slot].entry - 1].record = record;
    return;
  }
  size_t index = entries_.size();
  if (index < capacity_) {
    entries_.push_back({key, record});
  } else {
    index = next_;
    next_ = (next_ + 1) % capacity_;
    EraseSlot(SlotOfEntry(index, Hash(entries_[index].key)));
    entries_[index] = {key, record};
    slot = FindSlot(key, hash);  // erasing may have shifted the probe sequence
  }
  assert(slots_[slot].entry == 0);
  slots_[slot] = {hash, static_cast<uint32_t>(index + 1)};
  assert(entries_.size() <= capacity_);
}

// Backward-shift deletion keeps every probe sequence unbroken without tombstones.
void IdWindow::EraseSlot(size_t hole) {
  assert(slots_[hole].entry != 0);
  for (size_t i = (hole + 1) & mask_; slots_[i].entry != 0; i = (i + 1) & mask_) {
    const size_t home = slots_[i].hash & mask_;
    // Move slot i into the hole unless its home lies cyclically in (hole, i].
    const bool home_in_range = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
    if (!home_in_range) {
      slots_[hole] = slots_[i];
      hole = i;
    }
  }
  slots_[hole] = Slot{};
}

void IdWindow::Clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  entries_.clear();
  next_ = 0;
}

}  // namespace cairn::engine
