// Internal to protect/: the pieces protector.cc's two paths share (the DOM path in
// protector_dom.cc, the scan-and-splice path in protector_splice.cc). Messages and checks live
// here once so that both paths refuse the same things with the same words.
// Thread safety: as protector.h.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/aes_gcm.h"
#include "keys/subject_key_source.h"
#include "protect/cipher_cache.h"
#include "protect/field_cipher.h"
#include "protect/json_scan.h"
#include "protect/protector.h"
#include "protect/rules.h"

namespace cairn::protect::internal {

// A string wiped when dropped (plaintexts).
struct Secret {
  std::string text;
  Secret() = default;
  Secret(Secret&&) = default;
  Secret& operator=(Secret&&) = default;
  ~Secret() { crypto::Cleanse(&text); }
};

// A JsonScan per thread and slot, reused across events (its buffers are released after a large
// document). The splice path scans a document and, while that scan is in use, decrypted values.
enum class ScanSlot { kDocument = 0, kValue = 1 };
class ScanLease {
 public:
  explicit ScanLease(ScanSlot slot) : scan_(Pool(slot)) {}
  ~ScanLease() { scan_.ShrinkIfLarge(); }
  ScanLease(const ScanLease&) = delete;
  ScanLease& operator=(const ScanLease&) = delete;
  JsonScan& scan() { return scan_; }

 private:
  static JsonScan& Pool(ScanSlot slot) {
    thread_local JsonScan scans[2];
    return scans[static_cast<int>(slot)];
  }
  JsonScan& scan_;
};

// "stream 's' event <uuid> field /p", for messages.
std::string Where(std::string_view stream_id, std::string_view event_id16,
                  std::string_view pointer);
std::string FormatEventId(std::string_view id);

// The subject's value as found in the data.
struct SubjectValue {
  enum class Kind { kMissing, kString, kInteger, kOther };
  Kind kind = Kind::kMissing;
  std::string text;  // a string's content or an integer's decimal text
};
// The subject named by the rule (or the append's attribute), or kInvalidArgument naming the
// pointer, never the value.
Result<std::string> CheckSubject(const Rule& rule, const SubjectValue& value,
                                 std::string_view append_subject);

Status EncInDataError(const Rule& rule);
// A protected field whose path a string, number, boolean or array blocks (JsonPointer's
// PathBlocked): stored as sent, its personal data would be in the clear.
Status BlockedFieldError(const Rule& rule, const JsonPointer& field);
Status DataNotJsonError(const Rule& rule, const Status& parse_error);
Status StoredNotJsonError(std::string_view stream_id, std::string_view event_id16,
                          const Status& parse_error);

// KeyForWrite(subject), annotated, and checked for form.
Result<keys::SubjectKey> KeyForWrite(const Rule& rule, std::string_view subject,
                                     keys::SubjectKeySource& keys);

// The keys of one event being revealed: one KeyForRead per distinct kid.
class EventKeys {
 public:
  EventKeys(keys::SubjectKeySource& keys, CipherCache* ciphers, std::string_view stream_id,
            std::string_view event_id16)
      : keys_(keys), ciphers_(ciphers), stream_id_(stream_id), event_id16_(event_id16) {}
  // The context for `kid`; nullptr when the key was destroyed (forget). Other key source errors
  // are returned annotated with the field's place.
  Result<crypto::AesGcm*> For(std::string_view kid, std::string_view pointer);

 private:
  struct Entry {
    std::string kid;
    std::optional<CipherCache::Lease> lease;  // nullopt: destroyed
  };
  keys::SubjectKeySource& keys_;
  CipherCache* const ciphers_;
  const std::string_view stream_id_;
  const std::string_view event_id16_;
  std::vector<Entry> entries_;
};

// Authenticates and decrypts `field` found at `pointer` into *plain; kDataLoss naming the place
// when it fails.
Status OpenField(crypto::AesGcm& gcm, std::string_view stream_id, std::string_view event_id16,
                 std::string_view pointer, const StoredField& field, std::string* plain);
Status DecryptedNotJsonError(std::string_view stream_id, std::string_view event_id16,
                             std::string_view pointer);
Status MalformedStoredFieldError(std::string_view stream_id, std::string_view event_id16,
                                 std::string_view pointer, const Status& what);

// What a reader without read.pii sees, as compact JSON text.
Result<std::string> MaskText(const Rule& rule, bool value_is_string);
Result<std::string> ErasedText(const Rule& rule);

// The DOM path (always decides).
Result<std::string> ProtectWithDom(const Rule& rule, std::string_view stream_id,
                                   std::string_view event_id16, std::string_view data_json,
                                   std::string_view append_subject, keys::SubjectKeySource& keys,
                                   CipherCache* ciphers);
Result<ReadView> RevealWithDom(const Rule& rule, std::string_view stream_id,
                               std::string_view event_id16, std::string_view stored_data_json,
                               bool may_read_pii, keys::SubjectKeySource& keys,
                               CipherCache* ciphers);

// The splice path over a successful scan of the same text; nullopt when it declines (before any
// key is asked for), and the caller then takes the DOM path.
std::optional<Result<std::string>> ProtectWithSplice(
    const Rule& rule, std::string_view stream_id, std::string_view event_id16,
    std::string_view data_json, const JsonScan& scan, std::string_view append_subject,
    keys::SubjectKeySource& keys, CipherCache* ciphers);
std::optional<Result<ReadView>> RevealWithSplice(const Rule& rule, std::string_view stream_id,
                                                 std::string_view event_id16,
                                                 std::string_view stored_data_json,
                                                 const JsonScan& scan, bool may_read_pii,
                                                 keys::SubjectKeySource& keys,
                                                 CipherCache* ciphers);

}  // namespace cairn::protect::internal
