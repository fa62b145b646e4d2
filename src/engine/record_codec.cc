#include "engine/record_codec.h"

#include <cstring>

#include "common/bytes.h"

namespace cairn::engine {
namespace {

constexpr size_t kRecordHeaderSizeBytes = 1 + 4;
constexpr size_t kFieldSizeBytesMax = 64u << 20;  // far above any event limit

void RecordAad(uint64_t position, char (&aad)[20]) {
  std::memcpy(aad, "cairn-rec-v1", 12);
  for (int i = 0; i < 8; ++i) aad[12 + i] = static_cast<char>(position >> (56 - 8 * i));
}

}  // namespace

Result<crypto::AesGcm*> RecordCipher::CipherFor(uint32_t epoch) {
  auto it = ciphers_.find(epoch);
  if (it != ciphers_.end()) return &it->second;
  auto key = keys_->Key(epoch);
  if (key == nullptr && keys_->Refresh().ok()) key = keys_->Key(epoch);  // made by another node
  if (key == nullptr) return Status::DataLoss("record names unknown storage epoch " + std::to_string(epoch));
  CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm gcm, crypto::AesGcm::Create(key->view()));
  return &ciphers_.emplace(epoch, std::move(gcm)).first->second;
}

Status RecordCipher::Seal(uint32_t epoch, uint64_t position, std::string_view entry,
                          std::string_view data, std::string_view metadata, std::string* out) {
  plain_scratch_.clear();
  plain_scratch_.reserve(12 + entry.size() + data.size() + metadata.size());
  PutLengthPrefixed(&plain_scratch_, entry);
  PutLengthPrefixed(&plain_scratch_, data);
  PutLengthPrefixed(&plain_scratch_, metadata);
  char aad[20];
  RecordAad(position, aad);
  return SealValue(kRecordFormatV1, epoch, {aad, sizeof aad}, plain_scratch_, out);
}

Status RecordCipher::Open(uint64_t position, std::string_view stored, OpenedRecord* out) {
  if (stored.size() < kRecordHeaderSizeBytes + crypto::kGcmOverheadBytes ||
      static_cast<uint8_t>(stored[0]) != kRecordFormatV1) {
    return Status::DataLoss("record is truncated or has an unknown format", position);
  }
  uint32_t epoch = DecodeU32(stored.data() + 1);
  CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm * gcm, CipherFor(epoch));
  char aad[20];
  RecordAad(position, aad);
  Status s = gcm->Open({aad, sizeof aad}, stored.substr(kRecordHeaderSizeBytes), &out->plaintext);
  if (!s.ok()) {
    return Status::DataLoss("record does not authenticate (modified, moved or wrong key)", position);
  }
  ByteReader r(out->plaintext);
  if (!r.GetLengthPrefixed(&out->entry, kFieldSizeBytesMax) ||
      !r.GetLengthPrefixed(&out->data, kFieldSizeBytesMax) ||
      !r.GetLengthPrefixed(&out->metadata, kFieldSizeBytesMax) || r.remaining() != 0) {
    return Status::DataLoss("record plaintext is malformed", position);
  }
  return Status::Ok();
}

Status RecordCipher::SealValue(uint8_t format, uint32_t epoch, std::string_view aad,
                               std::string_view plain, std::string* out) {
  CAIRN_ASSIGN_OR_RETURN(crypto::AesGcm * gcm, CipherFor(epoch));
  out->clear();
  out->reserve(kRecordHeaderSizeBytes + plain.size() + crypto::kGcmOverheadBytes);
  PutU8(out, format);
  PutU32(out, epoch);
  return gcm->Seal(aad, plain, out);
}

Status RecordCipher::OpenValue(uint8_t format, std::string_view aad, std::string_view stored,
                               std::string_view what, std::string* plain) {
  if (stored.size() < kRecordHeaderSizeBytes + crypto::kGcmOverheadBytes ||
      static_cast<uint8_t>(stored[0]) != format) {
    return Status::DataLoss(std::string(what) + " is truncated or has an unknown format");
  }
  auto gcm = CipherFor(DecodeU32(stored.data() + 1));
  if (!gcm.ok()) return gcm.status().Annotate(std::string(what));
  if (!(*gcm)->Open(aad, stored.substr(kRecordHeaderSizeBytes), plain).ok()) {
    return Status::DataLoss(std::string(what) + " does not authenticate (modified, moved or wrong key)");
  }
  return Status::Ok();
}

}  // namespace cairn::engine
