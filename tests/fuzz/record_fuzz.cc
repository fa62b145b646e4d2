// At-rest records (engine/record_codec.h, DecodeRecordedEvent in engine/event_codec.h) over
// hostile bytes, with storage keys for epochs 0 and 1 fixed here (test keys, public). The first
// byte chooses what the rest is (the seeds use 'S' and 'P'):
//   odd  u64 position || stored record: opened as if read back from storage at that position.
//        Without the key the fuzzer cannot forge a record, so this reaches the header and the
//        authentication; the seeds are real records sealed by RecordCipher under the fixed keys.
//   even u8 epoch || u64 position || record plaintext: sealed here under that epoch's key with
//        the documented AAD ("cairn-rec-v1" || u64 position), as an attacker holding the storage
//        key could, then decoded: this reaches the plaintext layout, the entry decoder and the
//        position check.
// Properties: never crashes; a record that decodes names its own position; its plaintext is the
// canonical layout of what was decoded (the entry re-encodes to the stored entry bytes); its leaf
// hash is that of the entry; sealing the decoded parts again with RecordCipher::Seal decodes to
// the same event. Deterministic: the 'P' seal uses a fixed IV (test key, test code only).
#include <map>
#include <memory>

#include "common/bytes.h"
#include "engine/event_codec.h"
#include "fuzz_util.h"
#include "integrity/entry.h"
#include "keys/storage_keys.h"

namespace cairn::fuzz {
namespace {

constexpr uint32_t kEpochs = 2;
constexpr std::string_view kEpochKeys[kEpochs] = {"cairn fuzz storage key epoch 0 !",
                                                  "cairn fuzz storage key epoch 1 !"};

// The least of a LogStore that StorageKeys::Load reads: key material and metadata, in memory.
class KeyMaterialStore final : public storage::LogStore {
 public:
  std::map<std::string, std::string, std::less<>> material, meta;

  Result<std::optional<std::string>> ReadKeyMaterial(std::string_view name) override {
    return Find(material, name);
  }
  Result<std::optional<std::string>> ReadMeta(std::string_view name) override { return Find(meta, name); }

  Result<std::unique_ptr<storage::CommitWriter>> BeginCommit(uint64_t) override { return No(); }
  Result<storage::TreeState> ReadTreeState() override { return No(); }
  Result<std::optional<storage::StreamHead>> ReadStreamHead(std::string_view) override { return No(); }
  Result<std::string> ReadRecord(uint64_t) override { return No(); }
  Status ScanRecords(uint64_t, uint64_t, const std::function<bool(uint64_t, std::string_view)>&) override {
    return No();
  }
  Result<std::vector<storage::StreamIndexEntry>> ReadStreamIndex(std::string_view, uint64_t, bool,
                                                                 uint64_t) override {
    return No();
  }
  Status ReadNodes(std::span<const storage::NodeKey>, std::vector<std::string>*) override { return No(); }
  Status ScanLeafHashes(uint64_t, uint64_t, const std::function<bool(uint64_t, std::string_view)>&) override {
    return No();
  }
  Status ScanStreamHeads(const std::function<bool(std::string_view, const storage::StreamHead&)>&) override {
    return No();
  }
  Status PutCheckpoint(uint64_t, std::string_view) override { return No(); }
  Result<std::optional<std::pair<uint64_t, std::string>>> ReadLatestCheckpoint() override { return No(); }
  Status ScanCheckpoints(const std::function<bool(uint64_t, std::string_view)>&) override { return No(); }
  Status PutKeyMaterial(std::string_view, std::string_view) override { return No(); }
  Result<bool> PutKeyMaterialIfAbsent(std::string_view, std::string_view) override { return No(); }
  Result<bool> ReplaceKeyMaterialIf(std::string_view, std::string_view, std::string_view) override {
    return No();
  }
  Status ScanKeyMaterial(std::string_view,
                         const std::function<bool(std::string_view, std::string_view)>&) override {
    return No();
  }
  Status DestroyKeyMaterial(std::string_view) override { return No(); }
  Status PutMeta(std::string_view, std::string_view) override { return No(); }
  Status ScanMeta(std::string_view,
                  const std::function<bool(std::string_view, std::string_view)>&) override {
    return No();
  }

 private:
  static Status No() { return Status::FailedPrecondition("not part of the record fuzz target"); }
  static std::optional<std::string> Find(const std::map<std::string, std::string, std::less<>>& map,
                                         std::string_view name) {
    auto it = map.find(name);
    return it == map.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

// "Wraps" by copying: the fixed keys are public anyway.
class PlainKms final : public keys::KmsProvider {
 public:
  std::string_view provider_name() const override { return "fuzz-plain"; }
  std::string kek_id() const override { return "fuzz-plain"; }
  Result<std::string> Wrap(std::string_view key, std::string_view) override { return std::string(key); }
  Result<crypto::SecureBytes> Unwrap(std::string_view wrapped, std::string_view) override {
    return crypto::SecureBytes(wrapped);
  }
  Status Health() override { return Status::Ok(); }
};

struct Fixture {
  KeyMaterialStore store;
  PlainKms kms;
  std::unique_ptr<keys::StorageKeys> keys;
  std::unique_ptr<engine::RecordCipher> cipher;
  std::map<uint32_t, crypto::AesGcm> raw;  // the same keys, for sealing raw plaintexts
};

Fixture& TheFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    for (uint32_t e = 0; e < kEpochs; ++e) {
      std::string value;
      PutU64(&value, e * uint64_t{1000});  // first position the epoch encrypts
      value += kEpochKeys[e];
      f->store.material["storage-epoch/" + std::to_string(e)] = value;
      auto gcm = crypto::AesGcm::Create(kEpochKeys[e]);
      FUZZ_CHECK(gcm.ok());
      f->raw.emplace(e, std::move(gcm).value());
    }
    std::string current;
    PutU32(&current, kEpochs - 1);
    f->store.meta["storage_epoch_current"] = current;
    auto keys = keys::StorageKeys::Load(&f->store, &f->kms);
    FUZZ_CHECK(keys.ok() && (*keys)->epoch_count() == kEpochs);
    f->keys = std::move(keys).value();
    f->cipher = std::make_unique<engine::RecordCipher>(f->keys.get());
    return f;
  }();
  return *fixture;
}

std::string RecordAad(uint64_t position) {
  std::string aad = "cairn-rec-v1";
  PutU64(&aad, position);
  return aad;
}

bool SameEvent(const engine::RecordedEvent& a, const engine::RecordedEvent& b) {
  return a.entry == b.entry && a.data == b.data && a.metadata == b.metadata &&
         a.leaf_hash == b.leaf_hash;
}

// The properties of a record that decoded at `position` under `epoch`.
void CheckDecoded(uint32_t epoch, uint64_t position, const engine::RecordedEvent& event,
                  std::string_view plaintext) {
  FUZZ_CHECK(event.entry.position == position);
  FUZZ_CHECK(integrity::ValidateEntry(event.entry).ok());
  const std::string entry_bytes = integrity::EncodeEntry(event.entry);
  FUZZ_CHECK(event.leaf_hash == integrity::LeafHash(entry_bytes));
  std::string layout;
  PutLengthPrefixed(&layout, entry_bytes);
  PutLengthPrefixed(&layout, event.data);
  PutLengthPrefixed(&layout, event.metadata);
  FUZZ_CHECK(layout == plaintext);
  Fixture& f = TheFixture();
  std::string resealed;
  FUZZ_CHECK(f.cipher->Seal(epoch, position, entry_bytes, event.data, event.metadata, &resealed).ok());
  engine::RecordedEvent again;
  FUZZ_CHECK(engine::DecodeRecordedEvent(*f.cipher, position, resealed, &again).ok());
  FUZZ_CHECK(SameEvent(again, event));
}

void FuzzStored(std::string_view input) {
  if (input.size() < 8) return;
  const uint64_t position = DecodeU64(input.data());
  const std::string_view stored = input.substr(8);
  Fixture& f = TheFixture();
  engine::RecordedEvent event;
  if (!engine::DecodeRecordedEvent(*f.cipher, position, stored, &event).ok()) return;
  FUZZ_CHECK(stored.size() >= 5);
  const uint32_t epoch = DecodeU32(stored.data() + 1);
  FUZZ_CHECK(epoch < kEpochs);
  std::string plaintext;
  FUZZ_CHECK(f.raw.at(epoch).Open(RecordAad(position), stored.substr(5), &plaintext).ok());
  CheckDecoded(epoch, position, event, plaintext);
}

void FuzzPlaintext(std::string_view input) {
  if (input.size() < 9) return;
  const uint32_t epoch = static_cast<uint8_t>(input[0]) % kEpochs;
  const uint64_t position = DecodeU64(input.data() + 1);
  const std::string_view plaintext = input.substr(9);
  Fixture& f = TheFixture();
  std::string stored;
  stored.push_back(static_cast<char>(engine::kRecordFormatV1));
  PutU32(&stored, epoch);
  const std::string iv(crypto::kGcmIvSizeBytes, '\x5a');
  FUZZ_CHECK(f.raw.at(epoch).SealWithIvForTest(iv, RecordAad(position), plaintext, &stored).ok());
  engine::RecordedEvent event;
  if (!engine::DecodeRecordedEvent(*f.cipher, position, stored, &event).ok()) return;
  CheckDecoded(epoch, position, event, plaintext);
}

}  // namespace
}  // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input = cairn::fuzz::AsView(data, size);
  if (input.empty()) return 0;
  if (input[0] & 1) {
    cairn::fuzz::FuzzStored(input.substr(1));
  } else {
    cairn::fuzz::FuzzPlaintext(input.substr(1));
  }
  return 0;
}
