// SubjectKeySource: the per-data-subject AES-256 keys that protect/ encrypts personal fields with
// (DESIGN.md, Keys and data protection). Implemented by keys/subject_keys.h over the LogStore and
// a KmsProvider, with a bounded cache of unwrapped keys.
//
// A key id ("kid") names one version of one subject's key. It is printable ASCII, at most
// kSubjectKidSizeBytesMax bytes, and reveals nothing about the subject (it is stored inside
// events, next to the ciphertext): it is random, never derived from the subject's identifier.
//
// Errors: KeyForRead of a kid whose key was destroyed (`forget`) gives kNotFound — readers show
// the erased value; an unreachable KMS gives kUnavailable (callers fail closed: no append of a
// protected event, and a read never shows ciphertext as plaintext).
//
// Thread safety: implementations are safe for concurrent use.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/secure.h"

namespace cairn::keys {

inline constexpr size_t kSubjectKidSizeBytesMax = 64;
inline constexpr size_t kSubjectIdSizeBytesMax = 256;  // the subject identifier from the event

struct SubjectKey {
  std::string kid;                                // the version to write with / that was read
  std::shared_ptr<const crypto::SecureBytes> key;  // 32 bytes, wiped when the last user drops it
};

class SubjectKeySource {
 public:
  virtual ~SubjectKeySource() = default;
  // The current key version of `subject`, created (durably) on first use.
  virtual Result<SubjectKey> KeyForWrite(std::string_view subject) = 0;
  // The key version named `kid`; kNotFound once destroyed.
  virtual Result<SubjectKey> KeyForRead(std::string_view kid) = 0;
};

}  // namespace cairn::keys
