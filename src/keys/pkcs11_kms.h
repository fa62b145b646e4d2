// Pkcs11Kms: the KMS provider that keeps its KEK inside a PKCS#11 token (an HSM; SoftHSMv2 in
// tests). The KEK never leaves the token: cairn only asks the token to wrap and unwrap.
//
// Module: loaded at run time with dlopen + C_GetFunctionList (cairn links no PKCS#11 library),
// initialised with CKF_OS_LOCKING_OK. Providers that load the same module share one C_Initialize
// (reference counted; the last one calls C_Finalize). If something else in the process already
// initialised the module, cairn uses it and leaves finalisation to its owner.
//
// Token and key: the token is found by label (or slot id; both given must agree). The KEK is the
// one CKK_AES secret key object with CKA_LABEL = key_label; it must be AES-256 with CKA_WRAP and
// CKA_UNWRAP true, CKA_SENSITIVE true and CKA_EXTRACTABLE false, otherwise Open() refuses it.
// create_key_if_missing (development and tests) generates such a key as a token object with a
// random 16-byte CKA_ID. Open() ends with a wrap/unwrap self-test, so a token that lacks the
// mechanism or a key that lacks the permissions is reported at start-up, not at first use.
//
// PIN: from pin_file (a regular file owned by the current user, mode 0600 or stricter; one trailing
// newline is ignored) or from the environment variable named by pin_env; exactly one of them. The
// PIN is held in SecureBytes only for C_Login and wiped right after; no message ever contains it.
//
// Wrapping construction. Mechanism: CKM_AES_KEY_WRAP_PAD (RFC 5649, AES-KWP) through C_WrapKey and
// C_UnwrapKey, the portable way to wrap with AES on HSMs (SoftHSM 2.6 offers no AES-GCM wrapping
// and does not accept KWP as a C_Encrypt cipher). The secret travels as a short-lived session
// object (CKO_SECRET_KEY, CKK_GENERIC_SECRET, CKA_TOKEN false, CKA_EXTRACTABLE true), destroyed
// right after the call. AES-KWP has no associated data, so the context is bound inside the wrapped
// value:
//   blob    = "p11v1" || kek_fp (8 bytes) || AES-KWP_KEK(binding || u16 len(secret) || secret)
//   binding = SHA-256("cairn-p11-wrap-v1" || u32 len || header || u32 len || context)
// where header = "p11v1" || kek_fp and kek_fp = the first 8 bytes of the KEK fingerprint (kek_id).
// Unwrap checks the header (another format or another KEK: kDataLoss), lets the token unwrap (KWP's
// integrity check fails for a modified blob: kDataLoss), and compares the 32 binding bytes in
// constant time (another context: kDataLoss). The explicit length is there because some tokens
// (SoftHSM 2.6.1 as packaged by Debian) hand back the KWP plaintext with its zero padding; only
// that padding is tolerated. KWP is deterministic: wrapping the same secret under
// the same context twice gives the same blob, which only reveals that equality.
//
// kek_id(): "pkcs11:" + hex of the first 8 bytes of SHA-256("cairn-p11-kek-id-v1" || token label ||
// key label || CKA_ID), each length-prefixed. Derived from public attributes only, never key bytes.
//
// Errors: CK_RV values map to Status with the function and CKR name; a device, token, session or
// login problem, or a KEK that has disappeared, gives kUnavailable (callers fail closed); a PIN the
// token refuses gives kPermissionDenied; a bad blob gives kDataLoss. A session that failed with a
// device or session error is closed and replaced; once the login is lost the provider stays
// unavailable until it is reopened (the PIN is not kept).
//
// Thread safety: safe for concurrent use. Operations run on a bounded pool of sessions (at most
// max_sessions; a caller waits up to 30 s for a free one, then gets kResourceExhausted — the
// token is busy, not gone), plus one anchor session that holds the login and serves Health().
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "keys/kms.h"

namespace cairn::keys {

struct Pkcs11Options {
  std::string module_path;             // e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token_label;             // the token's CKA label, or…
  std::optional<uint64_t> slot_id;     // …its slot id
  std::string pin_file;                // the user PIN from a private file, or…
  std::string pin_env;                 // …from this environment variable (e.g. CAIRN_PKCS11_PIN)
  std::string key_label;               // CKA_LABEL of the AES-256 KEK on the token
  bool create_key_if_missing = false;  // dev/tests: generate a non-extractable KEK on the token
  size_t max_sessions = 4;             // bound of the session pool (1..64)
};

// Largest blob Unwrap() accepts: 13-byte header + KWP of (32 + 2 + 4096 bytes), i.e. 4130 bytes
// padded to 4136, plus KWP's 8-byte block.
inline constexpr size_t kPkcs11WrappedSizeBytesMax = 13 + 4136 + 8;

class Pkcs11Module;  // a loaded, initialised module (pkcs11_kms.cc)

class Pkcs11Kms final : public KmsProvider {
 public:
  static Result<std::unique_ptr<Pkcs11Kms>> Open(const Pkcs11Options& options);
  // The labels of the AES secret keys on the token `options` names (at most 1024 looked at),
  // logging in with its PIN; options.key_label is not used. For keys/pkcs11_keyring.h.
  static Result<std::vector<std::string>> ListKeyLabels(const Pkcs11Options& options);
  ~Pkcs11Kms() override;
  Pkcs11Kms(const Pkcs11Kms&) = delete;
  Pkcs11Kms& operator=(const Pkcs11Kms&) = delete;

  std::string_view provider_name() const override { return "pkcs11"; }
  std::string kek_id() const override { return kek_id_; }
  // The kek_id() a blob of this provider names in its header; nullopt when it is not one.
  static std::optional<std::string> KekIdOfBlob(std::string_view wrapped);
  Result<std::string> Wrap(std::string_view plaintext_key, std::string_view context) override;
  Result<crypto::SecureBytes> Unwrap(std::string_view wrapped, std::string_view context) override;
  // A cheap round trip to the token on the anchor session: session state (still logged in), token
  // info, and a read of the KEK's class. kUnavailable when the token or the key is gone.
  Status Health() override;

  // Destroys this provider's KEK object on the token (KEK rotation retires old versions). Every
  // blob wrapped under it becomes unreadable; the provider is unusable afterwards.
  Status DestroyKek();

  const std::string& token_label() const { return token_label_; }
  const std::string& key_label() const { return key_label_; }

 private:
  class SessionLease;
  Pkcs11Kms() = default;

  Result<unsigned long> AcquireSession();
  void ReleaseSession(unsigned long session, bool healthy);
  Status CheckAnchor();  // Health() without the logging context

  std::shared_ptr<Pkcs11Module> module_;
  unsigned long slot_ = 0;
  unsigned long kek_ = 0;  // object handle of the KEK
  std::string token_label_;
  std::string key_label_;
  std::string kek_id_;
  std::string header_;  // "p11v1" || kek fingerprint

  std::mutex anchor_mu_;
  unsigned long anchor_ = 0;  // holds the login; used by Health()
  bool anchor_open_ = false;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<unsigned long> idle_;
  size_t open_sessions_ = 0;  // idle + leased pool sessions
  size_t max_sessions_ = 4;
};

}  // namespace cairn::keys
