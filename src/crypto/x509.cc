#include "crypto/x509.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <climits>
#include <cstring>
#include <ctime>
#include <memory>

#include "common/bytes.h"
#include "crypto/openssl_ptr.h"
#include "crypto/secure.h"

namespace cairn::crypto {

KeyAndCert::~KeyAndCert() { Cleanse(&key_pem); }

KeyAndCert& KeyAndCert::operator=(const KeyAndCert& other) {
  if (this != &other) {
    Cleanse(&key_pem);
    key_pem = other.key_pem;
    cert_pem = other.cert_pem;
  }
  return *this;
}

KeyAndCert::KeyAndCert(KeyAndCert&& other) noexcept
    : key_pem(std::move(other.key_pem)), cert_pem(std::move(other.cert_pem)) {
  Cleanse(&other.key_pem);  // a short string is copied, not moved
}

KeyAndCert& KeyAndCert::operator=(KeyAndCert&& other) noexcept {
  if (this != &other) {
    Cleanse(&key_pem);
    key_pem = std::move(other.key_pem);
    cert_pem = std::move(other.cert_pem);
    Cleanse(&other.key_pem);
  }
  return *this;
}

namespace {

using X509Ptr = OpensslPtr<X509, X509_free>;
using BioPtr = OpensslPtr<BIO, BIO_free_all>;
using NamePtr = OpensslPtr<X509_NAME, X509_NAME_free>;
using GeneralNamesPtr = OpensslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralNamePtr = OpensslPtr<GENERAL_NAME, GENERAL_NAME_free>;
using ExtensionPtr = OpensslPtr<X509_EXTENSION, X509_EXTENSION_free>;

constexpr size_t kSerialSizeBytes = 16;
constexpr int64_t kUnixSecondsMax = 253402300799;  // 9999-12-31T23:59:59Z, the X.509 maximum
constexpr size_t kFileSizeBytesMax = kCertPemSizeBytesMax;
constexpr int64_t kDevClockSkewS = 60;
constexpr int64_t kDevCaValidityS = int64_t{3653} * 24 * 3600;     // 10 years
constexpr int64_t kDevServerValidityS = int64_t{366} * 24 * 3600;  // 1 year

// OpenSSL failed: drop its error queue (so it cannot leak into a later, unrelated check) and say
// what failed. OpenSSL's own text is not included: it is rarely useful to an operator.
Status OpensslError(const std::string& what) {
  ERR_clear_error();
  return Status::Internal(what + " failed (OpenSSL)");
}

// Never prompt for a passphrase on the terminal: encrypted keys are simply unreadable here.
int NoPassphrase(char*, int, int, void*) { return 0; }

BioPtr ReadBio(std::string_view bytes) {
  assert(bytes.size() <= static_cast<size_t>(INT_MAX));
  return BioPtr(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

// The bytes written to a memory BIO. For secrets pass a BIO_s_secmem() BIO, which is wiped when
// freed; the copy returned is then the caller's to wipe.
std::string BioContents(BIO* bio) {
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio, &mem);
  if (mem == nullptr || mem->length == 0) return {};
  return std::string(mem->data, mem->length);
}

Result<X509Ptr> ParseCert(std::string_view pem, const char* what) {
  if (pem.empty() || pem.size() > kCertPemSizeBytesMax) {
    return Status::InvalidArgument(std::string(what) + ": PEM is empty or larger than 64 KiB");
  }
  BioPtr bio = ReadBio(pem);
  if (!bio) return OpensslError("allocating a BIO");
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!cert) {
    ERR_clear_error();
    return Status::InvalidArgument(std::string(what) + ": not a PEM certificate");
  }
  return cert;
}

Result<PkeyPtr> ParseKey(std::string_view pem, const char* what) {
  if (pem.empty() || pem.size() > kCertPemSizeBytesMax) {
    return Status::InvalidArgument(std::string(what) + ": PEM is empty or larger than 64 KiB");
  }
  BioPtr bio = ReadBio(pem);
  if (!bio) return OpensslError("allocating a BIO");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    ERR_clear_error();
    return Status::InvalidArgument(std::string(what) + ": not an unencrypted PEM private key");
  }
  return key;
}

bool IsIa5Token(std::string_view s) {
  if (s.empty() || s.size() > kCertSanSizeBytesMax) return false;
  for (char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

// Parses a textual IPv4 or IPv6 address into its 4 or 16 network-order bytes.
size_t ParseIp(const std::string& text, unsigned char out[16]) {
  if (text.size() > INET6_ADDRSTRLEN) return 0;
  if (inet_pton(AF_INET, text.c_str(), out) == 1) return 4;
  if (inet_pton(AF_INET6, text.c_str(), out) == 1) return 16;
  return 0;
}

Status ValidateRequest(const CertRequest& r) {
  if (r.is_ca != (r.usage == CertRequest::Usage::kCa)) {
    return Status::InvalidArgument("certificate request: is_ca disagrees with usage");
  }
  if (r.common_name.size() > kCertCommonNameSizeBytesMax) {
    return Status::InvalidArgument("certificate request: common name longer than 64 bytes");
  }
  if (r.common_name.empty() && r.extra_subject.empty()) {
    return Status::InvalidArgument("certificate request: empty subject");
  }
  if (r.extra_subject.size() > kCertExtraSubjectCountMax) {
    return Status::InvalidArgument("certificate request: more than 16 extra subject attributes");
  }
  if (r.common_name.find('\0') != std::string::npos) {
    return Status::InvalidArgument("certificate request: NUL byte in common name");
  }
  for (const auto& [field, value] : r.extra_subject) {
    if (field.empty() || field.size() > 32 || value.empty() ||
        value.size() > kCertSubjectValueSizeBytesMax || value.find('\0') != std::string::npos) {
      return Status::InvalidArgument("certificate request: bad subject attribute '" +
                                     field.substr(0, 32) + "'");
    }
  }
  if (r.dns_sans.size() > kCertSanCountMax || r.ip_sans.size() > kCertSanCountMax ||
      r.uri_sans.size() > kCertSanCountMax) {
    return Status::InvalidArgument("certificate request: more than 64 SANs of one kind");
  }
  for (const std::string& dns : r.dns_sans) {
    if (!IsIa5Token(dns)) {
      return Status::InvalidArgument("certificate request: bad DNS SAN (printable ASCII, no spaces)");
    }
  }
  for (const std::string& uri : r.uri_sans) {
    if (!IsIa5Token(uri) || uri.find(':') == std::string::npos) {
      return Status::InvalidArgument("certificate request: bad URI SAN (scheme:rest, printable ASCII)");
    }
  }
  for (const std::string& ip : r.ip_sans) {
    unsigned char bytes[16];
    if (ParseIp(ip, bytes) == 0) {
      return Status::InvalidArgument("certificate request: bad IP SAN '" + ip.substr(0, 64) + "'");
    }
  }
  if (r.not_before_unix_s < 0 || r.not_after_unix_s > kUnixSecondsMax ||
      r.not_after_unix_s <= r.not_before_unix_s) {
    return Status::InvalidArgument(
        "certificate request: validity must satisfy 0 <= not_before < not_after <= year 9999");
  }
  return Status::Ok();
}

// Subject: extra attributes in order, then CN.
Result<NamePtr> BuildSubject(const CertRequest& r) {
  NamePtr name(X509_NAME_new());
  if (!name) return OpensslError("allocating a name");
  for (const auto& [field, value] : r.extra_subject) {
    if (X509_NAME_add_entry_by_txt(name.get(), field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.data()),
                                   static_cast<int>(value.size()), -1, 0) != 1) {
      ERR_clear_error();
      return Status::InvalidArgument("certificate request: unknown subject attribute '" + field +
                                     "' or value not UTF-8");
    }
  }
  if (!r.common_name.empty() &&
      X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(r.common_name.data()),
                                 static_cast<int>(r.common_name.size()), -1, 0) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("certificate request: common name is not UTF-8");
  }
  return name;
}

// Appends one GENERAL_NAME of `type` holding `bytes` (an IA5String or, for GEN_IPADD, an OCTET
// STRING). Takes care of ownership on every path.
Status PushGeneralName(GENERAL_NAMES* names, int type, const void* bytes, size_t size_bytes) {
  assert(size_bytes <= kCertSanSizeBytesMax);
  GeneralNamePtr gen(GENERAL_NAME_new());
  ASN1_STRING* value = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
  if (!gen || value == nullptr ||
      ASN1_STRING_set(value, bytes, static_cast<int>(size_bytes)) != 1) {
    ASN1_STRING_free(value);
    return OpensslError("building a SAN");
  }
  GENERAL_NAME_set0_value(gen.get(), type, value);  // gen owns value
  if (sk_GENERAL_NAME_push(names, gen.get()) <= 0) return OpensslError("building SANs");
  gen.release();  // names owns gen
  return Status::Ok();
}

Status AddSans(X509* cert, const CertRequest& r) {
  if (r.dns_sans.empty() && r.ip_sans.empty() && r.uri_sans.empty()) return Status::Ok();
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return OpensslError("allocating SANs");
  for (const std::string& dns : r.dns_sans) {
    CAIRN_RETURN_IF_ERROR(PushGeneralName(names.get(), GEN_DNS, dns.data(), dns.size()));
  }
  for (const std::string& ip : r.ip_sans) {
    unsigned char bytes[16];
    const size_t size_bytes = ParseIp(ip, bytes);
    assert(size_bytes == 4 || size_bytes == 16);  // ValidateRequest checked
    CAIRN_RETURN_IF_ERROR(PushGeneralName(names.get(), GEN_IPADD, bytes, size_bytes));
  }
  for (const std::string& uri : r.uri_sans) {
    CAIRN_RETURN_IF_ERROR(PushGeneralName(names.get(), GEN_URI, uri.data(), uri.size()));
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return OpensslError("adding SANs");
  }
  return Status::Ok();
}

// Adds an extension from a fixed configuration string (never caller text).
Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpensslError(std::string("adding extension ") + OBJ_nid2sn(nid));
  }
  return Status::Ok();
}

Status SetRandomSerial(X509* cert) {
  uint8_t serial[kSerialSizeBytes];
  CAIRN_RETURN_IF_ERROR(RandomBytes(serial));
  serial[0] &= 0x7f;  // positive as a DER INTEGER
  serial[0] |= 0x01;  // never zero, and always 16 bytes long (127 random bits)
  BnPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpensslError("setting the serial number");
  }
  return Status::Ok();
}

Result<std::string> KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_secmem()));  // wiped when freed
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpensslError("encoding the private key");
  }
  return BioContents(bio.get());
}

Result<std::string> CertPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpensslError("encoding the certificate");
  }
  return BioContents(bio.get());
}

// Makes a key and a certificate for `r`, signed by issuer_key and naming issuer_cert as issuer;
// both null for a self-signed certificate. `r` has been validated.
Result<KeyAndCert> MakeCertificate(const CertRequest& r, EVP_PKEY* issuer_key, X509* issuer_cert) {
  assert((issuer_key == nullptr) == (issuer_cert == nullptr));
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return OpensslError("generating a P-256 key");
  X509Ptr cert(X509_new());
  if (!cert) return OpensslError("allocating a certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return OpensslError("setting the version");
  CAIRN_RETURN_IF_ERROR(SetRandomSerial(cert.get()));

  CAIRN_ASSIGN_OR_RETURN(NamePtr subject, BuildSubject(r));
  const X509_NAME* issuer_name =
      issuer_cert != nullptr ? X509_get_subject_name(issuer_cert) : subject.get();
  if (X509_set_subject_name(cert.get(), subject.get()) != 1 ||
      X509_set_issuer_name(cert.get(), issuer_name) != 1) {
    return OpensslError("setting names");
  }
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(r.not_before_unix_s)) ==
          nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(r.not_after_unix_s)) ==
          nullptr) {
    return OpensslError("setting the validity");
  }
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return OpensslError("setting the public key");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert != nullptr ? issuer_cert : cert.get(), cert.get(), nullptr,
                 nullptr, 0);
  switch (r.usage) {
    case CertRequest::Usage::kCa:
      CAIRN_RETURN_IF_ERROR(
          AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
      CAIRN_RETURN_IF_ERROR(
          AddExtension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
      break;
    case CertRequest::Usage::kServer:
    case CertRequest::Usage::kClient:
      CAIRN_RETURN_IF_ERROR(
          AddExtension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
      CAIRN_RETURN_IF_ERROR(
          AddExtension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
      CAIRN_RETURN_IF_ERROR(AddExtension(
          cert.get(), &ctx, NID_ext_key_usage,
          r.usage == CertRequest::Usage::kServer ? "serverAuth" : "clientAuth"));
      break;
  }
  // The subject key identifier first: a self-signed certificate's authority key identifier is
  // taken from it.
  CAIRN_RETURN_IF_ERROR(AddExtension(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  CAIRN_RETURN_IF_ERROR(
      AddExtension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  CAIRN_RETURN_IF_ERROR(AddSans(cert.get(), r));

  EVP_PKEY* signer = issuer_key != nullptr ? issuer_key : key.get();
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) return OpensslError("signing");

  KeyAndCert out;
  CAIRN_ASSIGN_OR_RETURN(out.key_pem, KeyPem(key.get()));
  CAIRN_ASSIGN_OR_RETURN(out.cert_pem, CertPem(cert.get()));
  return out;
}

// ---- Files ----

std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  return Status::IOError(what + " " + path + ": " + std::strerror(err));
}

Status WriteAll(int fd, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(std::strerror(errno));
    }
    assert(n > 0);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}


// Writes `bytes` to a fresh temporary file beside `path` (O_EXCL, `mode`, fsynced) and gives it
// the name `path`: link(2) when `replace` is false (never overwrites), rename(2) otherwise.
Status WriteFileBeside(const std::string& path, std::string_view bytes, mode_t mode,
                       bool replace) {
  if (path.empty() || path.back() == '/' || path.size() > PATH_MAX - 32) {
    return Status::InvalidArgument("bad file path '" + path + "'");
  }
  uint8_t suffix[8];
  CAIRN_RETURN_IF_ERROR(RandomPublicBytes(suffix));
  const std::string tmp = path + ".tmp-" + HexEncode(std::span<const uint8_t>(suffix));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("creating", tmp, errno);
  Status s;
  if (::fchmod(fd, mode) != 0) s = ErrnoStatus("chmod", tmp, errno);  // whatever the umask
  if (s.ok()) s = WriteAll(fd, bytes).Annotate("writing " + tmp);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("syncing", tmp, errno);
  if (::close(fd) != 0 && s.ok()) s = ErrnoStatus("closing", tmp, errno);
  if (s.ok() && replace) {
    if (::rename(tmp.c_str(), path.c_str()) == 0) return SyncDirectory(ParentDir(path));
    s = ErrnoStatus("renaming", tmp, errno);
  } else if (s.ok()) {
    // In one step and without a second name: a crash between a link(2) and the unlink below
    // would leave the temporary name holding the bytes (a key) after `path` is replaced later.
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) {
      return SyncDirectory(ParentDir(path));
    }
    if (errno == EEXIST) {
      s = Status::AlreadyExists(path + " already exists; not overwriting it");
    } else if (errno != EINVAL && errno != ENOSYS) {
      s = ErrnoStatus("renaming", tmp, errno);
    } else if (::link(tmp.c_str(), path.c_str()) != 0) {  // a file system without RENAME_NOREPLACE
      s = errno == EEXIST ? Status::AlreadyExists(path + " already exists; not overwriting it")
                          : ErrnoStatus("linking", path, errno);
    }
  }
  // Either way the temporary name goes: after a link it is a second name of `path`.
  if (::unlink(tmp.c_str()) != 0 && s.ok()) s = ErrnoStatus("removing", tmp, errno);
  CAIRN_RETURN_IF_ERROR(s);
  return SyncDirectory(ParentDir(path));
}

Status WriteNewFile(const std::string& path, std::string_view bytes, mode_t mode) {
  return WriteFileBeside(path, bytes, mode, /*replace=*/false);
}

// Reads a small regular file (not following a final symlink) into *out.
Status ReadSmallFile(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("opening", path, errno);
  struct stat st;
  Status s;
  if (::fstat(fd, &st) != 0) {
    s = ErrnoStatus("stat", path, errno);
  } else if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
             static_cast<uint64_t>(st.st_size) > kFileSizeBytesMax) {
    s = Status::FailedPrecondition(path + " is not a regular file of 1 byte to 64 KiB");
  }
  if (s.ok()) {
    out->assign(static_cast<size_t>(st.st_size), '\0');
    size_t done = 0;
    while (s.ok() && done < out->size()) {
      const ssize_t n = ::read(fd, out->data() + done, out->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) s = ErrnoStatus("reading", path, errno);
      else if (n == 0) s = Status::IOError(path + " shrank while being read");
      else done += static_cast<size_t>(n);
    }
  }
  ::close(fd);
  if (!s.ok()) Cleanse(out);
  return s;
}

// Whether `path` exists (without following a final symlink). `must_be_private`: it must then be a
// regular file with no group or other permission bits.
Result<bool> ExistingFile(const std::string& path, bool must_be_private) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return ErrnoStatus("stat", path, errno);
  }
  if (!S_ISREG(st.st_mode)) return Status::FailedPrecondition(path + " is not a regular file");
  if (must_be_private && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::FailedPrecondition(path + " is readable by group or others (mode " + mode +
                                      "); chmod 600 it");
  }
  return true;
}

CertRequest DevServerRequest(int64_t now_s) {
  CertRequest r;
  r.common_name = "localhost";
  r.dns_sans = {"localhost"};
  r.ip_sans = {"127.0.0.1", "::1"};
  r.not_before_unix_s = now_s - kDevClockSkewS;
  r.not_after_unix_s = now_s + kDevServerValidityS;
  r.usage = CertRequest::Usage::kServer;
  return r;
}

CertRequest DevCaRequest(int64_t now_s) {
  uint8_t id[4];
  const Status s = RandomPublicBytes(id);
  assert(s.ok());
  (void)s;
  CertRequest r;
  r.common_name = "cairn dev CA " + HexEncode(std::span<const uint8_t>(id));
  r.not_before_unix_s = now_s - kDevClockSkewS;
  r.not_after_unix_s = now_s + kDevCaValidityS;
  r.is_ca = true;
  r.usage = CertRequest::Usage::kCa;
  return r;
}

// Writes key then certificate.
Status WritePair(const KeyAndCert& pair, const std::string& key_path, const std::string& cert_path) {
  CAIRN_RETURN_IF_ERROR(WritePrivateFile(key_path, pair.key_pem));
  return WritePublicFile(cert_path, pair.cert_pem);
}

}  // namespace

Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("opening directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("syncing directory", dir, err);
  return Status::Ok();
}

Result<KeyAndCert> CreateSelfSignedCa(const CertRequest& request) {
  CAIRN_RETURN_IF_ERROR(ValidateRequest(request));
  if (request.usage != CertRequest::Usage::kCa) {
    return Status::InvalidArgument("CreateSelfSignedCa needs a CA request (usage kCa)");
  }
  return MakeCertificate(request, nullptr, nullptr);
}

Result<KeyAndCert> IssueCertificate(const KeyAndCert& issuer, const CertRequest& request) {
  CAIRN_RETURN_IF_ERROR(ValidateRequest(request));
  if (request.usage == CertRequest::Usage::kCa) {
    return Status::InvalidArgument("IssueCertificate issues leaf certificates only");
  }
  CAIRN_ASSIGN_OR_RETURN(X509Ptr issuer_cert, ParseCert(issuer.cert_pem, "issuer certificate"));
  CAIRN_ASSIGN_OR_RETURN(PkeyPtr issuer_key, ParseKey(issuer.key_pem, "issuer key"));
  if (X509_check_private_key(issuer_cert.get(), issuer_key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("issuer key does not match the issuer certificate");
  }
  if (X509_check_ca(issuer_cert.get()) < 1) {
    return Status::InvalidArgument("issuer certificate is not a CA certificate");
  }
  return MakeCertificate(request, issuer_key.get(), issuer_cert.get());
}

namespace {

Result<int64_t> AsnTimeUnixSeconds(const ASN1_TIME* time, const char* field) {
  struct tm tm_utc {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm_utc) != 1) {
    return OpensslError(std::string("reading the certificate's ") + field);
  }
  return static_cast<int64_t>(timegm(&tm_utc));
}

std::string_view FirstPemCert(std::string_view pem) {
  constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  const size_t end = pem.find(kEnd);
  return end == std::string_view::npos ? pem : pem.substr(0, end + kEnd.size());
}

Result<std::string> SubjectText(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    return OpensslError("printing the subject");
  }
  return BioContents(bio.get());
}

}  // namespace

Result<std::string> CertSubjectRfc2253(std::string_view cert_pem) {
  CAIRN_ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(cert_pem, "certificate"));
  return SubjectText(cert.get());
}

Status CheckKeyMatchesCert(std::string_view cert_pem, std::string_view key_pem,
                           const char* cert_what, const char* key_what) {
  // The first certificate only: a chain may be longer than ParseCert takes.
  CAIRN_ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(FirstPemCert(cert_pem), cert_what));
  CAIRN_ASSIGN_OR_RETURN(PkeyPtr key, ParseKey(key_pem, key_what));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(std::string(key_what) + " is not the private key of the " +
                                   cert_what + " certificate");
  }
  return Status::Ok();
}

Result<int64_t> CertNotAfterUnixSeconds(std::string_view cert_pem) {
  CAIRN_ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(cert_pem, "certificate"));
  return AsnTimeUnixSeconds(X509_get0_notAfter(cert.get()), "notAfter");
}

Result<CertSummary> SummarizeCert(std::string_view cert_pem, const char* what) {
  CAIRN_ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(FirstPemCert(cert_pem), what));
  CertSummary summary;
  CAIRN_ASSIGN_OR_RETURN(summary.subject, SubjectText(cert.get()));
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (X509_digest(cert.get(), EVP_sha256(), digest, &digest_size) != 1) {
    return OpensslError("hashing the certificate");
  }
  summary.sha256_hex = HexEncode(std::span<const uint8_t>(digest, digest_size));
  CAIRN_ASSIGN_OR_RETURN(summary.not_before_unix_s,
                         AsnTimeUnixSeconds(X509_get0_notBefore(cert.get()), "notBefore"));
  CAIRN_ASSIGN_OR_RETURN(summary.not_after_unix_s,
                         AsnTimeUnixSeconds(X509_get0_notAfter(cert.get()), "notAfter"));
  return summary;
}

Result<size_t> CountBundleCerts(std::string_view pem, const char* what) {
  BioPtr bio = ReadBio(pem);
  if (!bio) return OpensslError("allocating a BIO");
  size_t count = 0;
  for (;;) {
    // _AUX: "TRUSTED CERTIFICATE" blocks too, as gRPC and OpenSSL read CA files.
    X509Ptr cert(PEM_read_bio_X509_AUX(bio.get(), nullptr, NoPassphrase, nullptr));
    if (!cert) break;
    if (++count > kCertBundleCountMax) {
      return Status::InvalidArgument(std::string(what) + ": more than " +
                                     std::to_string(kCertBundleCountMax) + " certificates");
    }
  }
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a certificate that does
  // not parse; only the first is a complete bundle. PEM blocks of other kinds (a key) are skipped
  // by the reader, so every block must have been one of the certificates.
  const unsigned long error = ERR_peek_last_error();
  ERR_clear_error();
  const bool at_end =
      ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE;
  size_t blocks = 0;
  for (size_t at = pem.find("-----BEGIN "); at != std::string_view::npos;
       at = pem.find("-----BEGIN ", at + 1)) {
    ++blocks;
  }
  if (count == 0 || !at_end || blocks != count) {
    return Status::InvalidArgument(std::string(what) + ": not a bundle of PEM certificates");
  }
  return count;
}

Status WritePrivateFile(const std::string& path, std::string_view bytes) {
  return WriteNewFile(path, bytes, 0600);
}

Status WritePublicFile(const std::string& path, std::string_view bytes) {
  return WriteNewFile(path, bytes, 0644);
}

Status ReplaceFile(const std::string& path, std::string_view bytes, mode_t mode) {
  return WriteFileBeside(path, bytes, mode, /*replace=*/true);
}

Status CreateDevPki(const std::string& dir, DevPkiFiles* out) {
  if (dir.empty()) return Status::InvalidArgument("dev PKI directory is empty");
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno != EEXIST) return ErrnoStatus("creating directory", dir, errno);
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus("stat", dir, errno);
    if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(dir + " is not a directory");
  } else {
    CAIRN_RETURN_IF_ERROR(SyncDirectory(ParentDir(dir)));
  }
  DevPkiFiles files{dir + "/ca.crt", dir + "/ca.key", dir + "/server.crt", dir + "/server.key"};

  CAIRN_ASSIGN_OR_RETURN(const bool ca_cert, ExistingFile(files.ca_cert, false));
  CAIRN_ASSIGN_OR_RETURN(const bool ca_key, ExistingFile(files.ca_key, true));
  CAIRN_ASSIGN_OR_RETURN(const bool server_cert, ExistingFile(files.server_cert, false));
  CAIRN_ASSIGN_OR_RETURN(const bool server_key, ExistingFile(files.server_key, true));
  const int64_t now_s = static_cast<int64_t>(std::time(nullptr));

  if (ca_cert && ca_key && server_cert && server_key) {
    // Complete: leave it.
  } else if (!ca_cert && !ca_key && !server_cert && !server_key) {
    CAIRN_ASSIGN_OR_RETURN(KeyAndCert ca, CreateSelfSignedCa(DevCaRequest(now_s)));
    CAIRN_ASSIGN_OR_RETURN(KeyAndCert server, IssueCertificate(ca, DevServerRequest(now_s)));
    CAIRN_RETURN_IF_ERROR(WritePair(ca, files.ca_key, files.ca_cert));
    CAIRN_RETURN_IF_ERROR(WritePair(server, files.server_key, files.server_cert));
  } else if (ca_cert && ca_key && !server_cert && !server_key) {
    KeyAndCert ca;
    CAIRN_RETURN_IF_ERROR(ReadSmallFile(files.ca_cert, &ca.cert_pem));
    CAIRN_RETURN_IF_ERROR(ReadSmallFile(files.ca_key, &ca.key_pem));
    CAIRN_ASSIGN_OR_RETURN(KeyAndCert server, IssueCertificate(ca, DevServerRequest(now_s)));
    CAIRN_RETURN_IF_ERROR(WritePair(server, files.server_key, files.server_cert));
  } else {
    std::string present;
    for (const auto& [exists, name] : {std::pair{ca_cert, "ca.crt"}, std::pair{ca_key, "ca.key"},
                                       std::pair{server_cert, "server.crt"},
                                       std::pair{server_key, "server.key"}}) {
      if (exists) present += std::string(present.empty() ? "" : ", ") + name;
    }
    return Status::FailedPrecondition("dev PKI in " + dir + " is incomplete (present: " + present +
                                      "); restore the missing files or remove them all");
  }
  if (out != nullptr) *out = std::move(files);
  return Status::Ok();
}

}  // namespace cairn::crypto
