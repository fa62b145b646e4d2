#include "keys/pkcs11_kms.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "common/bytes.h"
#include "crypto/sha256.h"
#include "keys/local_kms.h"

// Types and constants only: no PKCS#11 library is linked, the module is dlopen'ed.
#include <p11-kit/pkcs11.h>

namespace cairn::keys {
namespace {

constexpr std::string_view kBlobMagic = "p11v1";
constexpr size_t kFingerprintSizeBytes = 8;
constexpr size_t kHeaderSizeBytes = 5 + kFingerprintSizeBytes;
constexpr size_t kBindingSizeBytes = crypto::kSha256SizeBytes;
constexpr size_t kLengthSizeBytes = 2;  // u16 big-endian length of the secret
constexpr size_t kInnerOverheadBytes = kBindingSizeBytes + kLengthSizeBytes;
constexpr size_t kKwpOverheadBytes = 8;  // RFC 5649: padded to 8 bytes, plus one 8-byte block
constexpr size_t kKekSizeBytes = 32;
constexpr size_t kPinSizeBytesMax = 256;
constexpr size_t kMaxSessionsLimit = 64;
constexpr auto kSessionWait = std::chrono::seconds(30);
// AES key objects looked at on one token, read kKeyLabelsScanBatch at a time (a token may return
// fewer per call than asked); a token with more fails the listing rather than miss a version.
constexpr size_t kKeyLabelsScanMax = 65536;
constexpr size_t kKeyLabelsScanBatch = 256;

constexpr size_t Round8(size_t n) { return (n + 7) / 8 * 8; }
constexpr size_t KwpSize(size_t plain) { return Round8(plain) + kKwpOverheadBytes; }
static_assert(kPkcs11WrappedSizeBytesMax ==
              kHeaderSizeBytes + KwpSize(kInnerOverheadBytes + kWrapPlaintextSizeBytesMax));
static_assert(kWrapPlaintextSizeBytesMax <= 0xffff);

const char* RvName(CK_RV rv) {
  switch (rv) {
#define CAIRN_CKR(name) \
  case name:            \
    return #name;
    CAIRN_CKR(CKR_OK)
    CAIRN_CKR(CKR_CANCEL)
    CAIRN_CKR(CKR_HOST_MEMORY)
    CAIRN_CKR(CKR_SLOT_ID_INVALID)
    CAIRN_CKR(CKR_GENERAL_ERROR)
    CAIRN_CKR(CKR_FUNCTION_FAILED)
    CAIRN_CKR(CKR_ARGUMENTS_BAD)
    CAIRN_CKR(CKR_CANT_LOCK)
    CAIRN_CKR(CKR_ATTRIBUTE_READ_ONLY)
    CAIRN_CKR(CKR_ATTRIBUTE_SENSITIVE)
    CAIRN_CKR(CKR_ATTRIBUTE_TYPE_INVALID)
    CAIRN_CKR(CKR_ATTRIBUTE_VALUE_INVALID)
    CAIRN_CKR(CKR_DATA_INVALID)
    CAIRN_CKR(CKR_DATA_LEN_RANGE)
    CAIRN_CKR(CKR_DEVICE_ERROR)
    CAIRN_CKR(CKR_DEVICE_MEMORY)
    CAIRN_CKR(CKR_DEVICE_REMOVED)
    CAIRN_CKR(CKR_ENCRYPTED_DATA_INVALID)
    CAIRN_CKR(CKR_ENCRYPTED_DATA_LEN_RANGE)
    CAIRN_CKR(CKR_FUNCTION_CANCELED)
    CAIRN_CKR(CKR_FUNCTION_NOT_SUPPORTED)
    CAIRN_CKR(CKR_KEY_HANDLE_INVALID)
    CAIRN_CKR(CKR_KEY_SIZE_RANGE)
    CAIRN_CKR(CKR_KEY_TYPE_INCONSISTENT)
    CAIRN_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED)
    CAIRN_CKR(CKR_KEY_NOT_WRAPPABLE)
    CAIRN_CKR(CKR_KEY_UNEXTRACTABLE)
    CAIRN_CKR(CKR_MECHANISM_INVALID)
    CAIRN_CKR(CKR_MECHANISM_PARAM_INVALID)
    CAIRN_CKR(CKR_OBJECT_HANDLE_INVALID)
    CAIRN_CKR(CKR_OPERATION_ACTIVE)
    CAIRN_CKR(CKR_OPERATION_NOT_INITIALIZED)
    CAIRN_CKR(CKR_PIN_INCORRECT)
    CAIRN_CKR(CKR_PIN_INVALID)
    CAIRN_CKR(CKR_PIN_LEN_RANGE)
    CAIRN_CKR(CKR_PIN_EXPIRED)
    CAIRN_CKR(CKR_PIN_LOCKED)
    CAIRN_CKR(CKR_SESSION_CLOSED)
    CAIRN_CKR(CKR_SESSION_COUNT)
    CAIRN_CKR(CKR_SESSION_HANDLE_INVALID)
    CAIRN_CKR(CKR_SESSION_READ_ONLY)
    CAIRN_CKR(CKR_TEMPLATE_INCOMPLETE)
    CAIRN_CKR(CKR_TEMPLATE_INCONSISTENT)
    CAIRN_CKR(CKR_TOKEN_NOT_PRESENT)
    CAIRN_CKR(CKR_TOKEN_NOT_RECOGNIZED)
    CAIRN_CKR(CKR_TOKEN_WRITE_PROTECTED)
    CAIRN_CKR(CKR_UNWRAPPING_KEY_HANDLE_INVALID)
    CAIRN_CKR(CKR_UNWRAPPING_KEY_SIZE_RANGE)
    CAIRN_CKR(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)
    CAIRN_CKR(CKR_USER_ALREADY_LOGGED_IN)
    CAIRN_CKR(CKR_USER_NOT_LOGGED_IN)
    CAIRN_CKR(CKR_USER_PIN_NOT_INITIALIZED)
    CAIRN_CKR(CKR_USER_TYPE_INVALID)
    CAIRN_CKR(CKR_WRAPPED_KEY_INVALID)
    CAIRN_CKR(CKR_WRAPPED_KEY_LEN_RANGE)
    CAIRN_CKR(CKR_WRAPPING_KEY_HANDLE_INVALID)
    CAIRN_CKR(CKR_WRAPPING_KEY_SIZE_RANGE)
    CAIRN_CKR(CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
    CAIRN_CKR(CKR_BUFFER_TOO_SMALL)
    CAIRN_CKR(CKR_CRYPTOKI_NOT_INITIALIZED)
    CAIRN_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef CAIRN_CKR
    default:
      return "CKR_?";
  }
}

// Errors that mean "the token cannot be used right now": callers fail closed.
bool IsUnavailable(CK_RV rv) {
  switch (rv) {
    case CKR_HOST_MEMORY:
    case CKR_SLOT_ID_INVALID:
    case CKR_GENERAL_ERROR:
    case CKR_FUNCTION_FAILED:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_DEVICE_REMOVED:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_COUNT:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_WRAPPING_KEY_HANDLE_INVALID:
    case CKR_UNWRAPPING_KEY_HANDLE_INVALID:
    case CKR_CANT_LOCK:
      return true;
    default:
      return false;
  }
}

// A session that returned one of these is not returned to the pool.
bool IsSessionBroken(CK_RV rv) {
  switch (rv) {
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
      return true;
    default:
      return false;
  }
}

Status P11Error(const char* fn, CK_RV rv, const std::string& what = "") {
  char hex[24];
  std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(rv));
  std::string msg = std::string("PKCS#11 ") + fn + " failed: " + RvName(rv) + " (" + hex + ")";
  if (!what.empty()) msg = what + ": " + msg;
  if (IsUnavailable(rv)) return Status::Unavailable(msg);
  switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
    case CKR_USER_PIN_NOT_INITIALIZED:
      return Status::PermissionDenied(msg);
    case CKR_WRAPPED_KEY_INVALID:
    case CKR_WRAPPED_KEY_LEN_RANGE:
    case CKR_ENCRYPTED_DATA_INVALID:
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
      return Status::DataLoss(msg);
    case CKR_MECHANISM_INVALID:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_WRAPPING_KEY_TYPE_INCONSISTENT:
    case CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT:
    case CKR_FUNCTION_NOT_SUPPORTED:
    case CKR_TOKEN_WRITE_PROTECTED:
      return Status::FailedPrecondition(msg);
    default:
      return Status::Internal(msg);
  }
}

std::string TrimPadded(const unsigned char* p, size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

Result<crypto::SecureBytes> ReadPin(const Pkcs11Options& o) {
  if (o.pin_file.empty() == o.pin_env.empty()) {
    return Status::InvalidArgument("pkcs11: set exactly one of pin_file and pin_env");
  }
  std::string pin;
  if (!o.pin_env.empty()) {
    const char* v = std::getenv(o.pin_env.c_str());
    if (v == nullptr) {
      return Status::InvalidArgument("pkcs11: the PIN variable " + o.pin_env + " is not set");
    }
    pin = v;
  } else {
    auto opened = OpenPrivateFile(o.pin_file);
    if (!opened.ok()) return opened.status().Annotate("pkcs11 PIN file");
    const int fd = *opened;
    pin.assign(kPinSizeBytesMax + 1, '\0');
    ssize_t n = ::read(fd, pin.data(), pin.size());
    ::close(fd);
    if (n < 0 || static_cast<size_t>(n) > kPinSizeBytesMax) {
      crypto::Cleanse(&pin);
      return Status::InvalidArgument("pkcs11: PIN file " + o.pin_file +
                                     " is unreadable or too large");
    }
    pin.resize(static_cast<size_t>(n));
    if (!pin.empty() && pin.back() == '\n') pin.pop_back();
    if (!pin.empty() && pin.back() == '\r') pin.pop_back();
  }
  if (pin.empty()) return Status::InvalidArgument("pkcs11: the PIN is empty");
  crypto::SecureBytes out(pin);
  crypto::Cleanse(&pin);
  return out;
}

std::string Fingerprint(std::string_view token_label, std::string_view key_label,
                        std::string_view key_id) {
  std::string in = "cairn-p11-kek-id-v1";
  PutLengthPrefixed(&in, token_label);
  PutLengthPrefixed(&in, key_label);
  PutLengthPrefixed(&in, key_id);
  crypto::Hash h = crypto::Sha256(in);
  return std::string(crypto::HashView(h).substr(0, kFingerprintSizeBytes));
}

std::string Binding(std::string_view header, std::string_view context) {
  std::string in = "cairn-p11-wrap-v1";
  PutLengthPrefixed(&in, header);
  PutLengthPrefixed(&in, context);
  return crypto::HashString(crypto::Sha256(in));
}

// The slot of the token `o` names: by id, by label, or both (then they must agree). Only slots
// with an initialised token count.
Result<std::pair<CK_SLOT_ID, std::string>> FindSlot(CK_FUNCTION_LIST* f, const Pkcs11Options& o) {
  CK_ULONG n = 0;
  CK_RV rv = f->C_GetSlotList(CK_TRUE, nullptr, &n);
  if (rv != CKR_OK) return P11Error("C_GetSlotList", rv);
  std::vector<CK_SLOT_ID> slots(n);
  rv = f->C_GetSlotList(CK_TRUE, slots.data(), &n);
  if (rv != CKR_OK) return P11Error("C_GetSlotList", rv);
  slots.resize(n);
  const std::string want = o.token_label.empty() ? "slot " + std::to_string(*o.slot_id)
                                                 : "token '" + o.token_label + "'";
  std::vector<std::pair<CK_SLOT_ID, std::string>> matches;
  for (CK_SLOT_ID s : slots) {
    if (o.slot_id && s != *o.slot_id) continue;
    CK_TOKEN_INFO info;
    if (f->C_GetTokenInfo(s, &info) != CKR_OK) continue;
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
    std::string label = TrimPadded(info.label, sizeof info.label);
    if (!o.token_label.empty() && label != o.token_label) continue;
    matches.emplace_back(s, label);
  }
  if (matches.empty()) {
    return Status::Unavailable("pkcs11: " + want + " is not present (module " + o.module_path +
                               ")");
  }
  if (matches.size() > 1) {
    return Status::FailedPrecondition("pkcs11: " + std::to_string(matches.size()) +
                                      " tokens are labelled '" + o.token_label +
                                      "'; set slot_id to choose one");
  }
  return matches[0];
}

}  // namespace

// ---- Module: one dlopen + C_Initialize per library, shared by the providers using it. ----

class Pkcs11Module {
 public:
  static Result<std::shared_ptr<Pkcs11Module>> Load(const std::string& path);
  ~Pkcs11Module();
  CK_FUNCTION_LIST* f() const { return f_; }

 private:
  struct Entry {
    CK_FUNCTION_LIST* f = nullptr;
    bool owns_init = false;
    size_t refs = 0;
  };
  static std::mutex& RegistryMutex() {
    static std::mutex mu;
    return mu;
  }
  static std::map<void*, Entry>& Registry() {
    static auto* m = new std::map<void*, Entry>();  // never destroyed: used from destructors
    return *m;
  }
  Pkcs11Module(void* handle, CK_FUNCTION_LIST* f) : handle_(handle), f_(f) {}
  void* handle_;
  CK_FUNCTION_LIST* f_;
};

Result<std::shared_ptr<Pkcs11Module>> Pkcs11Module::Load(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("pkcs11: module_path is not set");
  // RTLD_NODELETE: modules often register exit handlers; never unmap one.
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* err = ::dlerror();
    return Status::FailedPrecondition("pkcs11: cannot load module " + path + ": " +
                                      (err ? err : "unknown error"));
  }
  std::lock_guard<std::mutex> lock(RegistryMutex());
  Entry& e = Registry()[handle];
  if (e.refs == 0) {
    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
    if (get_list == nullptr) {
      Registry().erase(handle);
      ::dlclose(handle);
      return Status::FailedPrecondition("pkcs11: " + path + " is not a PKCS#11 module");
    }
    CK_FUNCTION_LIST* f = nullptr;
    CK_RV rv = get_list(&f);
    if (rv != CKR_OK || f == nullptr) {
      Registry().erase(handle);
      ::dlclose(handle);
      return P11Error("C_GetFunctionList", rv == CKR_OK ? CKR_GENERAL_ERROR : rv, path);
    }
    CK_C_INITIALIZE_ARGS args;
    std::memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      Registry().erase(handle);
      ::dlclose(handle);
      Status s = P11Error("C_Initialize", rv, "pkcs11 module " + path);
      return Status::Unavailable(s.message());
    }
    e.f = f;
    e.owns_init = rv == CKR_OK;  // otherwise its owner finalises it
  }
  ++e.refs;
  return std::shared_ptr<Pkcs11Module>(new Pkcs11Module(handle, e.f));
}

Pkcs11Module::~Pkcs11Module() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  auto it = Registry().find(handle_);
  if (it != Registry().end() && --it->second.refs == 0) {
    if (it->second.owns_init) f_->C_Finalize(nullptr);
    Registry().erase(it);
  }
  ::dlclose(handle_);  // balances this Load's dlopen (RTLD_NODELETE keeps the code mapped)
}

// ---- Sessions ----

// A pool session for one operation; returns it to the pool (or closes it if it broke).
class Pkcs11Kms::SessionLease {
 public:
  SessionLease(Pkcs11Kms* kms, CK_SESSION_HANDLE h) : kms_(kms), h_(h) {}
  ~SessionLease() { kms_->ReleaseSession(h_, healthy_); }
  SessionLease(const SessionLease&) = delete;
  SessionLease& operator=(const SessionLease&) = delete;
  CK_SESSION_HANDLE get() const { return h_; }
  // Records the outcome of a call; a broken session is closed instead of reused.
  CK_RV Check(CK_RV rv) {
    if (IsSessionBroken(rv)) healthy_ = false;
    return rv;
  }
  // Closes the session instead of reusing it (its session objects go with it).
  void Discard() { healthy_ = false; }

 private:
  Pkcs11Kms* kms_;
  CK_SESSION_HANDLE h_;
  bool healthy_ = true;
};

Result<unsigned long> Pkcs11Kms::AcquireSession() {
  std::unique_lock<std::mutex> lock(pool_mu_);
  if (!pool_cv_.wait_for(lock, kSessionWait,
                         [&] { return !idle_.empty() || open_sessions_ < max_sessions_; })) {
    // Busy, not gone: kResourceExhausted, so that the keyring does not reopen the token for it.
    return Status::ResourceExhausted("pkcs11: no free session on token '" + token_label_ + "'");
  }
  if (!idle_.empty()) {
    CK_SESSION_HANDLE h = idle_.back();
    idle_.pop_back();
    return h;
  }
  ++open_sessions_;
  lock.unlock();
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv = module_->f()->C_OpenSession(slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &h);
  if (rv != CKR_OK) {
    lock.lock();
    --open_sessions_;
    pool_cv_.notify_one();
    return P11Error("C_OpenSession", rv, "token '" + token_label_ + "'");
  }
  return h;
}

void Pkcs11Kms::ReleaseSession(unsigned long session, bool healthy) {
  if (!healthy) module_->f()->C_CloseSession(session);
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (healthy) {
    idle_.push_back(session);
  } else {
    --open_sessions_;
  }
  pool_cv_.notify_one();
}

// Destroys a session object (a key in the clear, during a wrap or an unwrap) when it goes out
// of scope. If the token fails to destroy it, the lease's session is closed instead of going
// back to the pool, which destroys its session objects: no plaintext key outlives the call.
template <typename Lease>
class ObjectGuard {
 public:
  ObjectGuard(CK_FUNCTION_LIST* f, Lease& lease) : f_(f), lease_(lease) {}
  ~ObjectGuard() {
    if (h_ != CK_INVALID_HANDLE && f_->C_DestroyObject(lease_.get(), h_) != CKR_OK) lease_.Discard();
  }
  ObjectGuard(const ObjectGuard&) = delete;
  ObjectGuard& operator=(const ObjectGuard&) = delete;
  CK_OBJECT_HANDLE* out() { return &h_; }
  CK_OBJECT_HANDLE get() const { return h_; }

 private:
  CK_FUNCTION_LIST* f_;
  Lease& lease_;
  CK_OBJECT_HANDLE h_ = CK_INVALID_HANDLE;
};

// ---- Open ----

Result<std::unique_ptr<Pkcs11Kms>> Pkcs11Kms::Open(const Pkcs11Options& o) {
  if (o.key_label.empty()) return Status::InvalidArgument("pkcs11: key_label is not set");
  if (o.token_label.empty() && !o.slot_id) {
    return Status::InvalidArgument("pkcs11: set token_label or slot_id");
  }
  if (o.max_sessions == 0 || o.max_sessions > kMaxSessionsLimit) {
    return Status::InvalidArgument("pkcs11: max_sessions must be 1..64");
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::SecureBytes pin, ReadPin(o));

  std::unique_ptr<Pkcs11Kms> kms(new Pkcs11Kms());
  kms->max_sessions_ = o.max_sessions;
  kms->key_label_ = o.key_label;
  CAIRN_ASSIGN_OR_RETURN(kms->module_, Pkcs11Module::Load(o.module_path));
  CK_FUNCTION_LIST* f = kms->module_->f();
  CAIRN_ASSIGN_OR_RETURN(auto slot, FindSlot(f, o));
  kms->slot_ = slot.first;
  kms->token_label_ = slot.second;
  const std::string where = "token '" + kms->token_label_ + "'";

  // The anchor session, and the login (shared by every session of this process on the token).
  CK_RV rv = f->C_OpenSession(kms->slot_, CKF_SERIAL_SESSION, nullptr, nullptr, &kms->anchor_);
  if (rv != CKR_OK) return P11Error("C_OpenSession", rv, where);
  kms->anchor_open_ = true;
  rv = f->C_Login(kms->anchor_, CKU_USER, pin.data(), pin.size());
  pin.Clear();
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    return P11Error("C_Login", rv, "logging in to " + where);
  }

  // The KEK.
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  std::string label = o.key_label;
  CK_ATTRIBUTE find[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_LABEL, label.data(), label.size()},
  };
  rv = f->C_FindObjectsInit(kms->anchor_, find, 3);
  if (rv != CKR_OK) return P11Error("C_FindObjectsInit", rv, where);
  CK_OBJECT_HANDLE found[2];
  CK_ULONG found_n = 0;
  rv = f->C_FindObjects(kms->anchor_, found, 2, &found_n);
  f->C_FindObjectsFinal(kms->anchor_);
  if (rv != CKR_OK) return P11Error("C_FindObjects", rv, where);
  if (found_n > 1) {
    return Status::FailedPrecondition("pkcs11: more than one AES key is labelled '" + o.key_label +
                                      "' on " + where);
  }
  if (found_n == 1) {
    kms->kek_ = found[0];
  } else if (!o.create_key_if_missing) {
    return Status::NotFound("pkcs11: no AES key labelled '" + o.key_label + "' on " + where +
                            " (create a non-extractable AES-256 key with CKA_WRAP and CKA_UNWRAP,"
                            " or set create_key_if_missing for development)");
  } else {
    // Token objects need a read-write session.
    CK_SESSION_HANDLE rw = CK_INVALID_HANDLE;
    rv = f->C_OpenSession(kms->slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &rw);
    if (rv != CKR_OK) return P11Error("C_OpenSession (read-write)", rv, where);
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG len = kKekSizeBytes;
    std::string id = crypto::RandomString(16);
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_WRAP, &yes, sizeof yes},
        {CKA_UNWRAP, &yes, sizeof yes},
        {CKA_ENCRYPT, &no, sizeof no},
        {CKA_DECRYPT, &no, sizeof no},
        {CKA_SIGN, &no, sizeof no},
        {CKA_VERIFY, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},
        {CKA_VALUE_LEN, &len, sizeof len},
        {CKA_LABEL, label.data(), label.size()},
        {CKA_ID, id.data(), id.size()},
    };
    CK_MECHANISM gen = {CKM_AES_KEY_GEN, nullptr, 0};
    rv = f->C_GenerateKey(rw, &gen, tmpl, sizeof tmpl / sizeof tmpl[0], &kms->kek_);
    f->C_CloseSession(rw);
    if (rv != CKR_OK) {
      return P11Error("C_GenerateKey", rv, "creating key '" + o.key_label + "' on " + where);
    }
  }

  // The KEK must be an AES-256 wrapping key that never leaves the token.
  CK_BBOOL wrap = CK_FALSE, unwrap = CK_FALSE, extractable = CK_TRUE, sensitive = CK_FALSE;
  CK_ULONG value_len = 0;
  CK_ATTRIBUTE attrs[] = {
      {CKA_WRAP, &wrap, sizeof wrap},
      {CKA_UNWRAP, &unwrap, sizeof unwrap},
      {CKA_EXTRACTABLE, &extractable, sizeof extractable},
      {CKA_SENSITIVE, &sensitive, sizeof sensitive},
      {CKA_VALUE_LEN, &value_len, sizeof value_len},
      {CKA_ID, nullptr, 0},
  };
  rv = f->C_GetAttributeValue(kms->anchor_, kms->kek_, attrs, 6);
  if (rv != CKR_OK) return P11Error("C_GetAttributeValue", rv, "key '" + o.key_label + "'");
  std::string key_id;
  if (attrs[5].ulValueLen != CK_UNAVAILABLE_INFORMATION && attrs[5].ulValueLen > 0) {
    key_id.resize(attrs[5].ulValueLen);
    CK_ATTRIBUTE id_attr = {CKA_ID, key_id.data(), key_id.size()};
    rv = f->C_GetAttributeValue(kms->anchor_, kms->kek_, &id_attr, 1);
    if (rv != CKR_OK)
      return P11Error("C_GetAttributeValue(CKA_ID)", rv, "key '" + o.key_label + "'");
    key_id.resize(id_attr.ulValueLen);
  }
  const std::string bad = "pkcs11: key '" + o.key_label + "' on " + where;
  if (!wrap || !unwrap) return Status::FailedPrecondition(bad + " lacks CKA_WRAP/CKA_UNWRAP");
  if (extractable || !sensitive) {
    return Status::FailedPrecondition(bad +
                                      " is extractable or not sensitive; cairn requires a "
                                      "KEK that cannot leave the token");
  }
  if (value_len != kKekSizeBytes) return Status::FailedPrecondition(bad + " is not AES-256");

  std::string fp = Fingerprint(kms->token_label_, o.key_label, key_id);
  kms->kek_id_ = "pkcs11:" + HexEncode(fp);
  kms->header_ = std::string(kBlobMagic) + fp;

  // Self-test: mechanism support and key permissions, now rather than at first use.
  crypto::SecureBytes probe = crypto::RandomSecret(32);
  auto wrapped = kms->Wrap(probe.view(), "cairn-p11-selftest");
  if (!wrapped.ok()) return wrapped.status().Annotate("pkcs11 self-test");
  auto back = kms->Unwrap(*wrapped, "cairn-p11-selftest");
  if (!back.ok()) return back.status().Annotate("pkcs11 self-test");
  if (!crypto::ConstantTimeEquals(back->view(), probe.view())) {
    return Status::Internal("pkcs11 self-test: unwrap returned other bytes");
  }
  return kms;
}

Pkcs11Kms::~Pkcs11Kms() {
  if (!module_) return;
  CK_FUNCTION_LIST* f = module_->f();
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    for (CK_SESSION_HANDLE h : idle_) f->C_CloseSession(h);
    idle_.clear();
  }
  // Closing our last session ends the login unless another provider still holds a session;
  // no C_Logout, which would log out those other providers too.
  if (anchor_open_) f->C_CloseSession(anchor_);
}

// ---- Operations ----

Result<std::string> Pkcs11Kms::Wrap(std::string_view plaintext_key, std::string_view context) {
  if (plaintext_key.empty() || plaintext_key.size() > kWrapPlaintextSizeBytesMax) {
    return Status::InvalidArgument("wrapped secrets must be 1..4096 bytes");
  }
  crypto::SecureBytes inner(kInnerOverheadBytes + plaintext_key.size());
  std::string binding = Binding(header_, context);
  std::memcpy(inner.data(), binding.data(), kBindingSizeBytes);
  inner.data()[kBindingSizeBytes] = static_cast<uint8_t>(plaintext_key.size() >> 8);
  inner.data()[kBindingSizeBytes + 1] = static_cast<uint8_t>(plaintext_key.size());
  std::memcpy(inner.data() + kInnerOverheadBytes, plaintext_key.data(), plaintext_key.size());

  CAIRN_ASSIGN_OR_RETURN(CK_SESSION_HANDLE h, AcquireSession());
  SessionLease session(this, h);
  CK_FUNCTION_LIST* f = module_->f();
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_TOKEN, &no, sizeof no},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &yes, sizeof yes},
      {CKA_VALUE, inner.data(), inner.size()},
  };
  ObjectGuard secret(f, session);
  CK_RV rv = session.Check(f->C_CreateObject(h, tmpl, 7, secret.out()));
  inner.Clear();
  if (rv != CKR_OK) return P11Error("C_CreateObject", rv, "wrapping with " + kek_id_);

  CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, nullptr, 0};
  std::string out = header_;
  CK_ULONG len = KwpSize(kInnerOverheadBytes + plaintext_key.size());
  out.resize(kHeaderSizeBytes + len);
  rv = session.Check(f->C_WrapKey(h, &mech, kek_, secret.get(),
                                  reinterpret_cast<CK_BYTE*>(out.data() + kHeaderSizeBytes), &len));
  if (rv == CKR_BUFFER_TOO_SMALL) {  // a token that rounds differently: ask, then retry
    rv = session.Check(f->C_WrapKey(h, &mech, kek_, secret.get(), nullptr, &len));
    if (rv == CKR_OK) {
      out.resize(kHeaderSizeBytes + len);
      rv = session.Check(f->C_WrapKey(h, &mech, kek_, secret.get(),
                                      reinterpret_cast<CK_BYTE*>(out.data() + kHeaderSizeBytes),
                                      &len));
    }
  }
  if (rv != CKR_OK) return P11Error("C_WrapKey", rv, "wrapping with " + kek_id_);
  out.resize(kHeaderSizeBytes + len);
  return out;
}

std::optional<std::string> Pkcs11Kms::KekIdOfBlob(std::string_view wrapped) {
  if (wrapped.size() < kHeaderSizeBytes || wrapped.substr(0, kBlobMagic.size()) != kBlobMagic) {
    return std::nullopt;
  }
  return "pkcs11:" + HexEncode(wrapped.substr(kBlobMagic.size(), kFingerprintSizeBytes));
}

Result<crypto::SecureBytes> Pkcs11Kms::Unwrap(std::string_view wrapped, std::string_view context) {
  if (wrapped.size() < kHeaderSizeBytes || wrapped.substr(0, kBlobMagic.size()) != kBlobMagic) {
    return Status::DataLoss("wrapped key has an unknown format (not a pkcs11 blob)");
  }
  if (wrapped.substr(0, kHeaderSizeBytes) != header_) {
    return Status::DataLoss("wrapped key was made under another KEK (pkcs11:" +
                            HexEncode(wrapped.substr(kBlobMagic.size(), kFingerprintSizeBytes)) +
                            "), not " + kek_id_);
  }
  std::string_view ct = wrapped.substr(kHeaderSizeBytes);
  if (ct.size() < KwpSize(kInnerOverheadBytes + 1) || ct.size() % 8 != 0 ||
      wrapped.size() > kPkcs11WrappedSizeBytesMax) {
    return Status::DataLoss("wrapped key has a bad length");
  }

  CAIRN_ASSIGN_OR_RETURN(CK_SESSION_HANDLE h, AcquireSession());
  SessionLease session(this, h);
  CK_FUNCTION_LIST* f = module_->f();
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_TOKEN, &no, sizeof no},         {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &no, sizeof no},  // so that CKA_VALUE can be read back
      {CKA_EXTRACTABLE, &yes, sizeof yes},
  };
  CK_MECHANISM mech = {CKM_AES_KEY_WRAP_PAD, nullptr, 0};
  std::string ct_copy(ct);  // the API takes a non-const pointer
  ObjectGuard secret(f, session);
  CK_RV rv =
      session.Check(f->C_UnwrapKey(h, &mech, kek_, reinterpret_cast<CK_BYTE*>(ct_copy.data()),
                                   ct_copy.size(), tmpl, 6, secret.out()));
  if (rv != CKR_OK) {
    const std::string what = "unwrapping key '" + std::string(context) + "' with " + kek_id_;
    if (rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) {
      // Some tokens (SoftHSM) report a failed KWP integrity check this way. If the token is
      // otherwise fine, the blob was the problem.
      Status health = CheckAnchor();
      if (health.ok()) {
        return Status::DataLoss("cannot unwrap key '" + std::string(context) +
                                "': modified key material or another KEK (" + RvName(rv) + ")");
      }
      return health.Annotate(what);
    }
    return P11Error("C_UnwrapKey", rv, what);
  }

  crypto::SecureBytes inner(ct.size());
  CK_ATTRIBUTE value = {CKA_VALUE, inner.data(), inner.size()};
  rv = session.Check(f->C_GetAttributeValue(h, secret.get(), &value, 1));
  if (rv != CKR_OK)
    return P11Error("C_GetAttributeValue(CKA_VALUE)", rv, "unwrapping with " + kek_id_);
  if (value.ulValueLen == CK_UNAVAILABLE_INFORMATION || value.ulValueLen <= kInnerOverheadBytes ||
      value.ulValueLen > inner.size()) {
    return Status::DataLoss("unwrapped key has a bad length");
  }
  std::string_view got = inner.view().substr(0, value.ulValueLen);
  if (!crypto::ConstantTimeEquals(got.substr(0, kBindingSizeBytes), Binding(header_, context))) {
    return Status::DataLoss("cannot unwrap key '" + std::string(context) +
                            "': it was wrapped for another context");
  }
  // The length is ours, not the token's: some tokens (SoftHSM 2.6.1 as packaged by Debian)
  // return the KWP plaintext with its zero padding. Accept exactly that padding and nothing else.
  const size_t n =
      (size_t{inner.data()[kBindingSizeBytes]} << 8) | inner.data()[kBindingSizeBytes + 1];
  const size_t expected = kInnerOverheadBytes + n;
  bool length_ok = n >= 1 && n <= kWrapPlaintextSizeBytesMax &&
                   (got.size() == expected || got.size() == Round8(expected));
  for (size_t i = expected; length_ok && i < got.size(); ++i) length_ok = got[i] == '\0';
  if (!length_ok) return Status::DataLoss("unwrapped key has a bad length");
  return crypto::SecureBytes(got.substr(kInnerOverheadBytes, n));
}

Status Pkcs11Kms::CheckAnchor() {
  std::lock_guard<std::mutex> lock(anchor_mu_);
  CK_FUNCTION_LIST* f = module_->f();
  CK_SESSION_INFO si;
  CK_RV rv = f->C_GetSessionInfo(anchor_, &si);
  if (rv != CKR_OK) return P11Error("C_GetSessionInfo", rv);
  if (si.state != CKS_RO_USER_FUNCTIONS && si.state != CKS_RW_USER_FUNCTIONS) {
    return Status::Unavailable("pkcs11: no longer logged in to token '" + token_label_ +
                               "'; reopen the provider");
  }
  CK_TOKEN_INFO ti;
  rv = f->C_GetTokenInfo(slot_, &ti);
  if (rv != CKR_OK) return P11Error("C_GetTokenInfo", rv);
  if ((ti.flags & CKF_TOKEN_INITIALIZED) == 0 ||
      TrimPadded(ti.label, sizeof ti.label) != token_label_) {
    return Status::Unavailable("pkcs11: token '" + token_label_ + "' is no longer in its slot");
  }
  CK_OBJECT_CLASS cls = 0;
  CK_ATTRIBUTE a = {CKA_CLASS, &cls, sizeof cls};
  rv = f->C_GetAttributeValue(anchor_, kek_, &a, 1);
  if (rv != CKR_OK) return P11Error("C_GetAttributeValue", rv, "key '" + key_label_ + "'");
  return Status::Ok();
}

Status Pkcs11Kms::Health() { return CheckAnchor().Annotate(kek_id_); }

// ---- Key versions ----

Result<std::vector<std::string>> Pkcs11Kms::ListKeyLabels(const Pkcs11Options& o) {
  if (o.token_label.empty() && !o.slot_id) {
    return Status::InvalidArgument("pkcs11: set token_label or slot_id");
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::SecureBytes pin, ReadPin(o));
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<Pkcs11Module> module, Pkcs11Module::Load(o.module_path));
  CK_FUNCTION_LIST* f = module->f();
  CAIRN_ASSIGN_OR_RETURN(auto slot, FindSlot(f, o));
  const std::string where = "token '" + slot.second + "'";
  CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
  CK_RV rv = f->C_OpenSession(slot.first, CKF_SERIAL_SESSION, nullptr, nullptr, &s);
  if (rv != CKR_OK) return P11Error("C_OpenSession", rv, where);
  rv = f->C_Login(s, CKU_USER, pin.data(), pin.size());
  pin.Clear();
  // Closing the session ends nothing else: the login stays while other sessions exist.
  auto close = [&] { f->C_CloseSession(s); };
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    close();
    return P11Error("C_Login", rv, "logging in to " + where);
  }
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type}};
  std::vector<CK_OBJECT_HANDLE> found;
  rv = f->C_FindObjectsInit(s, find, 2);
  if (rv == CKR_OK) {
    // Until a call finds none: one call may return fewer objects than there are.
    CK_OBJECT_HANDLE batch[kKeyLabelsScanBatch];
    CK_ULONG batch_n = 0;
    while (found.size() <= kKeyLabelsScanMax &&
           (rv = f->C_FindObjects(s, batch, kKeyLabelsScanBatch, &batch_n)) == CKR_OK &&
           batch_n > 0) {
      found.insert(found.end(), batch, batch + std::min<CK_ULONG>(batch_n, kKeyLabelsScanBatch));
    }
    f->C_FindObjectsFinal(s);
  }
  if (rv != CKR_OK) {
    close();
    return P11Error("C_FindObjects", rv, where);
  }
  if (found.size() > kKeyLabelsScanMax) {
    close();
    return Status::ResourceExhausted("pkcs11: more than " + std::to_string(kKeyLabelsScanMax) +
                                     " AES keys on " + where + "; give cairn a token of its own");
  }
  std::vector<std::string> labels;
  for (size_t i = 0; i < found.size(); ++i) {
    char buf[256];
    CK_ATTRIBUTE a = {CKA_LABEL, buf, sizeof buf};
    const CK_RV label_rv = f->C_GetAttributeValue(s, found[i], &a, 1);
    // A key without a readable label, or a longer one, is not one of cairn's; any other error
    // (the device, the session) fails the listing rather than hide a KEK version.
    if (label_rv == CKR_ATTRIBUTE_SENSITIVE || label_rv == CKR_ATTRIBUTE_TYPE_INVALID ||
        label_rv == CKR_BUFFER_TOO_SMALL || label_rv == CKR_OBJECT_HANDLE_INVALID) {
      continue;  // (the last: deleted since the search)
    }
    if (label_rv != CKR_OK) {
      close();
      return P11Error("C_GetAttributeValue (CKA_LABEL)", label_rv, where);
    }
    if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > sizeof buf) continue;
    labels.emplace_back(buf, a.ulValueLen);
  }
  close();
  return labels;
}

Status Pkcs11Kms::DestroyKek() {
  CK_FUNCTION_LIST* f = module_->f();
  const std::string where = "key '" + key_label_ + "' on token '" + token_label_ + "'";
  CK_SESSION_HANDLE rw = CK_INVALID_HANDLE;
  CK_RV rv = f->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &rw);
  if (rv != CKR_OK) return P11Error("C_OpenSession (read-write)", rv, where);
  rv = f->C_DestroyObject(rw, kek_);
  f->C_CloseSession(rw);
  if (rv != CKR_OK) return P11Error("C_DestroyObject", rv, where);
  return Status::Ok();
}

}  // namespace cairn::keys
