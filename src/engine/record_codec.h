// At-rest record encoding (DESIGN.md, Keys: "At rest").
//
// Stored record = u8 format (1) || u32 storage epoch || AES-256-GCM sealed(IV || ct || tag) of
//   u32 len || entry bytes || u32 len || data || u32 len || metadata,
// with AAD "cairn-rec-v1" || u64 position, so a record moved to another position fails to open.
// The entry inside is the v1 entry that is hashed; data and metadata are the stored bytes.
//
// Thread safety: a RecordCipher is NOT thread-safe (it caches one cipher context per epoch); use
// one per thread. It holds the StorageKeys pointer, which must outlive it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/aes_gcm.h"
#include "keys/storage_keys.h"

namespace cairn::engine {

inline constexpr uint8_t kRecordFormatV1 = 0x01;

struct OpenedRecord {
  std::string plaintext;  // owns the bytes the views below point into
  std::string_view entry;
  std::string_view data;
  std::string_view metadata;
};

class RecordCipher {
 public:
  explicit RecordCipher(const keys::StorageKeys* keys) : keys_(keys) {}

  // Appends the stored form of one record to *out (cleared first).
  Status Seal(uint32_t epoch, uint64_t position, std::string_view entry, std::string_view data,
              std::string_view metadata, std::string* out);
  // Opens a stored record read back from `position`. kDataLoss when it does not authenticate
  // (tampered, moved or truncated) or is malformed.
  Status Open(uint64_t position, std::string_view stored, OpenedRecord* out);

  // The same sealing for other at-rest values of the log (group_summary.h): stored form
  // u8 `format` || u32 epoch || sealed(IV || ct || tag), AAD given by the caller. OpenValue
  // answers kDataLoss when the value is truncated, has another format, names an unknown epoch or
  // does not authenticate; the message is `what` + the reason.
  Status SealValue(uint8_t format, uint32_t epoch, std::string_view aad, std::string_view plain,
                   std::string* out);
  Status OpenValue(uint8_t format, std::string_view aad, std::string_view stored,
                   std::string_view what, std::string* plain);

 private:
  Result<crypto::AesGcm*> CipherFor(uint32_t epoch);

  const keys::StorageKeys* keys_;
  std::map<uint32_t, crypto::AesGcm> ciphers_;
  std::string plain_scratch_;
};

}  // namespace cairn::engine
