// Tests for crypto/x509: issued certificates verify against their CA only, carry the requested
// SANs and subject, expire, match their keys; private files are 0600 and never overwritten; the
// dev PKI is idempotent and completes a real TLS handshake.
#include <gtest/gtest.h>

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <memory>
#include <thread>
#include <type_traits>
#include <vector>

#include "crypto/x509.h"
#include "test_util.h"

namespace cairn::crypto {
namespace CAIRN_UNITY_ID {

using cairn::testing::ReadFile;
using cairn::testing::TempDir;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

X509Ptr ParseCert(const std::string& pem) {
  std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                          BIO_free);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

PkeyPtr ParseKey(const std::string& pem) {
  std::unique_ptr<BIO, int (*)(BIO*)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                          BIO_free);
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

CertRequest CaRequest(const std::string& cn) {
  CertRequest r;
  r.common_name = cn;
  r.not_before_unix_s = Now() - 60;
  r.not_after_unix_s = Now() + 3600;
  r.is_ca = true;
  r.usage = CertRequest::Usage::kCa;
  return r;
}

CertRequest ServerRequest() {
  CertRequest r;
  r.common_name = "localhost";
  r.dns_sans = {"localhost"};
  r.ip_sans = {"127.0.0.1", "::1"};
  r.uri_sans = {"spiffe://acme/billing"};
  r.not_before_unix_s = Now() - 60;
  r.not_after_unix_s = Now() + 3600;
  r.usage = CertRequest::Usage::kServer;
  return r;
}

// X509_verify_cert of `leaf` against a store holding only `ca`; returns the X509_V_* result.
int VerifyAgainst(const std::string& leaf_pem, const std::string& ca_pem, int purpose) {
  X509Ptr leaf = ParseCert(leaf_pem);
  X509Ptr ca = ParseCert(ca_pem);
  EXPECT_TRUE(leaf && ca);
  std::unique_ptr<X509_STORE, void (*)(X509_STORE*)> store(X509_STORE_new(), X509_STORE_free);
  EXPECT_EQ(X509_STORE_add_cert(store.get(), ca.get()), 1);
  std::unique_ptr<X509_STORE_CTX, void (*)(X509_STORE_CTX*)> ctx(X509_STORE_CTX_new(),
                                                                 X509_STORE_CTX_free);
  EXPECT_EQ(X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr), 1);
  EXPECT_EQ(X509_STORE_CTX_set_purpose(ctx.get(), purpose), 1);
  const int ok = X509_verify_cert(ctx.get());
  const int err = X509_STORE_CTX_get_error(ctx.get());
  EXPECT_EQ(ok == 1, err == X509_V_OK);
  return err;
}

mode_t FileMode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(X509, IssuedServerCertVerifiesAgainstItsCaOnly) {
  Result<KeyAndCert> ca = CreateSelfSignedCa(CaRequest("test CA"));
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  Result<KeyAndCert> other_ca = CreateSelfSignedCa(CaRequest("test CA"));  // same name, other key
  ASSERT_TRUE(other_ca.ok());
  Result<KeyAndCert> server = IssueCertificate(*ca, ServerRequest());
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  EXPECT_EQ(VerifyAgainst(server->cert_pem, ca->cert_pem, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_NE(VerifyAgainst(server->cert_pem, other_ca->cert_pem, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  // A server certificate is not a client certificate (extKeyUsage serverAuth only).
  EXPECT_EQ(VerifyAgainst(server->cert_pem, ca->cert_pem, X509_PURPOSE_SSL_CLIENT),
            X509_V_ERR_INVALID_PURPOSE);

  X509Ptr ca_cert = ParseCert(ca->cert_pem);
  X509Ptr leaf = ParseCert(server->cert_pem);
  EXPECT_EQ(X509_check_ca(ca_cert.get()), 1);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_EQ(X509_get_version(leaf.get()), X509_VERSION_3);
  EXPECT_EQ(X509_check_issued(ca_cert.get(), leaf.get()), X509_V_OK);  // AKI matches SKI
  EXPECT_NE(X509_get0_subject_key_id(leaf.get()), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(leaf.get()), nullptr);
  EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA256);
}

TEST(X509, ClientCertVerifiesForClientPurposeOnly) {
  Result<KeyAndCert> ca = CreateSelfSignedCa(CaRequest("test CA"));
  ASSERT_TRUE(ca.ok());
  CertRequest r = ServerRequest();
  r.usage = CertRequest::Usage::kClient;
  Result<KeyAndCert> client = IssueCertificate(*ca, r);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ(VerifyAgainst(client->cert_pem, ca->cert_pem, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(VerifyAgainst(client->cert_pem, ca->cert_pem, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST(X509, SansArePresent) {
  Result<KeyAndCert> ca = CreateSelfSignedCa(CaRequest("test CA"));
  ASSERT_TRUE(ca.ok());
  Result<KeyAndCert> server = IssueCertificate(*ca, ServerRequest());
  ASSERT_TRUE(server.ok());
  X509Ptr cert = ParseCert(server->cert_pem);
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(names, nullptr);
  std::vector<std::string> seen;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
    int type = 0;
    const auto* v = static_cast<const ASN1_STRING*>(GENERAL_NAME_get0_value(g, &type));
    std::string bytes(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                      static_cast<size_t>(ASN1_STRING_length(v)));
    seen.push_back(std::to_string(type) + ":" + bytes);
  }
  GENERAL_NAMES_free(names);
  const std::vector<std::string> want = {
      std::to_string(GEN_DNS) + ":localhost",
      std::to_string(GEN_IPADD) + ":" + std::string("\x7f\x00\x00\x01", 4),
      std::to_string(GEN_IPADD) + ":" + std::string(15, '\0') + "\x01",
      std::to_string(GEN_URI) + ":spiffe://acme/billing"};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "example.com", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
}

TEST(X509, ExpiredAndNotYetValidCertsFailVerification) {
  Result<KeyAndCert> ca = CreateSelfSignedCa(CaRequest("test CA"));
  ASSERT_TRUE(ca.ok());
  CertRequest expired = ServerRequest();
  expired.not_before_unix_s = Now() - 7200;
  expired.not_after_unix_s = Now() - 3600;
  Result<KeyAndCert> old = IssueCertificate(*ca, expired);
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(VerifyAgainst(old->cert_pem, ca->cert_pem, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_CERT_HAS_EXPIRED);

  CertRequest future = ServerRequest();
  future.not_before_unix_s = Now() + 3600;
  future.not_after_unix_s = Now() + 7200;
  Result<KeyAndCert> early = IssueCertificate(*ca, future);
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(VerifyAgainst(early->cert_pem, ca->cert_pem, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST(X509, KeyPemIsPkcs8AndMatchesItsCertOnly) {
  Result<KeyAndCert> ca = CreateSelfSignedCa(CaRequest("test CA"));
  ASSERT_TRUE(ca.ok());
  Result<KeyAndCert> a = IssueCertificate(*ca, ServerRequest());
  Result<KeyAndCert> b = IssueCertificate(*ca, ServerRequest());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->key_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  EXPECT_EQ(a->cert_pem.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  PkeyPtr key_a = ParseKey(a->key_pem);
  ASSERT_TRUE(key_a);
  EXPECT_EQ(EVP_PKEY_get_id(key_a.get()), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(key_a.get()), 256);
  X509Ptr cert_a = ParseCert(a->cert_pem);
  X509Ptr cert_b = ParseCert(b->cert_pem);
  EXPECT_EQ(X509_check_private_key(cert_a.get(), key_a.get()), 1);
  EXPECT_NE(X509_check_private_key(cert_b.get(), key_a.get()), 1);
  ERR_clear_error();
  // Random 16-byte serials: distinct and positive.
  const ASN1_INTEGER* sa = X509_get0_serialNumber(cert_a.get());
  const ASN1_INTEGER* sb = X509_get0_serialNumber(cert_b.get());
  EXPECT_NE(ASN1_INTEGER_cmp(sa, sb), 0);
  EXPECT_EQ(ASN1_STRING_length(sa), 16);
  EXPECT_EQ(ASN1_STRING_type(sa), V_ASN1_INTEGER);
}

TEST(X509, CheckKeyMatchesCertNamesTheMismatchWithoutTheKey) {
  Result<KeyAndCert> ca = CreateSelfSignedCa(CaRequest("test CA"));
  ASSERT_TRUE(ca.ok());
  Result<KeyAndCert> a = IssueCertificate(*ca, ServerRequest());
  Result<KeyAndCert> b = IssueCertificate(*ca, ServerRequest());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(CheckKeyMatchesCert(a->cert_pem, a->key_pem, "tls.cert", "tls.key").ok());
  Status wrong = CheckKeyMatchesCert(a->cert_pem, b->key_pem, "tls.cert", "tls.key");
  EXPECT_EQ(wrong.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(wrong.message().find("tls.key is not the private key of the tls.cert"),
            std::string::npos) << wrong.message();
  EXPECT_EQ(wrong.message().find("PRIVATE KEY"), std::string::npos);
  // A long chain after the first certificate (more than ParseCert's 64 KiB) is fine.
  std::string chain = a->cert_pem;
  while (chain.size() < (100 << 10)) chain += ca->cert_pem;
  EXPECT_TRUE(CheckKeyMatchesCert(chain, a->key_pem, "tls.cert", "tls.key").ok());
  EXPECT_EQ(CheckKeyMatchesCert("junk", a->key_pem, "tls.cert", "tls.key").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckKeyMatchesCert(a->cert_pem, "junk", "tls.cert", "tls.key").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ERR_peek_error(), 0u) << "an OpenSSL error left on the queue";
}

TEST(X509, KeyAndCertWipesOnMove) {
  KeyAndCert a(std::string(100, 'k'), "cert");
  KeyAndCert b(std::move(a));
  EXPECT_TRUE(a.key_pem.empty());
  EXPECT_EQ(b.key_pem, std::string(100, 'k'));
  KeyAndCert c;
  c = std::move(b);
  EXPECT_TRUE(b.key_pem.empty());
  KeyAndCert d(c);  // explicit copy
  EXPECT_EQ(d.key_pem, c.key_pem);
}

TEST(X509, SubjectRfc2253ListsCnFirst) {
  CertRequest r = CaRequest("x");
  r.extra_subject = {{"O", "z"}, {"OU", "y"}};
  Result<KeyAndCert> ca = CreateSelfSignedCa(r);
  ASSERT_TRUE(ca.ok()) << ca.status().ToString();
  Result<std::string> subject = CertSubjectRfc2253(ca->cert_pem);
  ASSERT_TRUE(subject.ok());
  EXPECT_EQ(*subject, "CN=x,OU=y,O=z");

  CertRequest leaf = ServerRequest();
  leaf.common_name = "billing, inc";  // a comma is escaped
  leaf.extra_subject = {{"C", "DE"}, {"O", "Acme"}};
  Result<KeyAndCert> cert = IssueCertificate(*ca, leaf);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(CertSubjectRfc2253(cert->cert_pem).value(), "CN=billing\\, inc,O=Acme,C=DE");

  EXPECT_EQ(CertSubjectRfc2253("not a certificate").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CertSubjectRfc2253("").status().code(), StatusCode::kInvalidArgument);
}

TEST(X509, RejectsBadRequestsAndIssuers) {
  auto code = [](const Result<KeyAndCert>& r) { return r.status().code(); };
  const auto kInvalid = StatusCode::kInvalidArgument;
  Result<KeyAndCert> ca = CreateSelfSignedCa(CaRequest("test CA"));
  ASSERT_TRUE(ca.ok());

  CertRequest r = ServerRequest();
  r.is_ca = true;  // disagrees with usage
  EXPECT_EQ(code(IssueCertificate(*ca, r)), kInvalid);
  EXPECT_EQ(code(CreateSelfSignedCa(ServerRequest())), kInvalid);  // not a CA request
  EXPECT_EQ(code(IssueCertificate(*ca, CaRequest("sub CA"))), kInvalid);
  r = ServerRequest();
  r.ip_sans = {"127.0.0.256"};
  EXPECT_EQ(code(IssueCertificate(*ca, r)), kInvalid);
  r = ServerRequest();
  r.dns_sans = {"local host"};
  EXPECT_EQ(code(IssueCertificate(*ca, r)), kInvalid);
  r = ServerRequest();
  r.uri_sans = {"no-scheme"};
  EXPECT_EQ(code(IssueCertificate(*ca, r)), kInvalid);
  r = ServerRequest();
  r.not_after_unix_s = r.not_before_unix_s;
  EXPECT_EQ(code(IssueCertificate(*ca, r)), kInvalid);
  r = ServerRequest();
  r.common_name = std::string(65, 'a');
  EXPECT_EQ(code(IssueCertificate(*ca, r)), kInvalid);
  r = ServerRequest();
  r.common_name.clear();
  r.extra_subject.clear();
  EXPECT_EQ(code(IssueCertificate(*ca, r)), kInvalid);
  r = ServerRequest();
  r.extra_subject = {{"NoSuchAttribute", "v"}};
  EXPECT_EQ(code(IssueCertificate(*ca, r)), kInvalid);
  r = ServerRequest();
  r.dns_sans.assign(kCertSanCountMax + 1, "a");
  EXPECT_EQ(code(IssueCertificate(*ca, r)), kInvalid);

  // The issuer must be a CA whose key matches its certificate.
  Result<KeyAndCert> leaf = IssueCertificate(*ca, ServerRequest());
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(code(IssueCertificate(*leaf, ServerRequest())), kInvalid);
  KeyAndCert mixed(leaf->key_pem, ca->cert_pem);
  Result<KeyAndCert> bad = IssueCertificate(mixed, ServerRequest());
  EXPECT_EQ(code(bad), kInvalid);
  EXPECT_EQ(bad.status().message().find("PRIVATE"), std::string::npos);  // no key text
  KeyAndCert garbage("garbage", ca->cert_pem);
  EXPECT_EQ(code(IssueCertificate(garbage, ServerRequest())), kInvalid);
}

TEST(X509, WritePrivateFileIs0600AndNeverOverwrites) {
  TempDir dir;
  const std::string path = dir.Sub("secret.key");
  ASSERT_TRUE(WritePrivateFile(path, "first").ok());
  EXPECT_EQ(FileMode(path), 0600u);
  EXPECT_EQ(ReadFile(path), "first");
  Status again = WritePrivateFile(path, "second");
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(path), "first");
  // A symlink at the path is not followed or replaced.
  const std::string link = dir.Sub("link.key");
  ASSERT_EQ(::symlink(dir.Sub("target").c_str(), link.c_str()), 0);
  EXPECT_EQ(WritePrivateFile(link, "x").code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("target")));
  // No temporary files are left behind.
  size_t entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 2u);
  EXPECT_EQ(WritePrivateFile(dir.Sub("missing/dir/x"), "x").code(), StatusCode::kIOError);

  ASSERT_TRUE(WritePublicFile(dir.Sub("cert.pem"), "cert").ok());
  EXPECT_EQ(FileMode(dir.Sub("cert.pem")), 0644u);
}

TEST(X509, DevPkiIsCompleteAndIdempotent) {
  TempDir tmp;
  const std::string dir = tmp.Sub("pki");
  DevPkiFiles files;
  Status s = CreateDevPki(dir, &files);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(files.ca_cert, dir + "/ca.crt");
  EXPECT_EQ(files.ca_key, dir + "/ca.key");
  EXPECT_EQ(files.server_cert, dir + "/server.crt");
  EXPECT_EQ(files.server_key, dir + "/server.key");
  EXPECT_EQ(FileMode(dir), 0700u);
  EXPECT_EQ(FileMode(files.ca_key), 0600u);
  EXPECT_EQ(FileMode(files.server_key), 0600u);
  EXPECT_EQ(FileMode(files.ca_cert), 0644u);
  EXPECT_EQ(FileMode(files.server_cert), 0644u);

  const std::string ca_pem = ReadFile(files.ca_cert);
  const std::string server_pem = ReadFile(files.server_cert);
  EXPECT_EQ(VerifyAgainst(server_pem, ca_pem, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  X509Ptr server = ParseCert(server_pem);
  PkeyPtr server_key = ParseKey(ReadFile(files.server_key));
  EXPECT_EQ(X509_check_private_key(server.get(), server_key.get()), 1);
  EXPECT_EQ(X509_check_host(server.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(server.get(), "::1", 0), 1);
  const std::string ca_subject = CertSubjectRfc2253(ca_pem).value();
  ASSERT_EQ(ca_subject.size(), std::string("CN=cairn dev CA ").size() + 8) << ca_subject;
  EXPECT_EQ(ca_subject.rfind("CN=cairn dev CA ", 0), 0u);
  // Validity: CA about 10 years, server about 1 year.
  X509Ptr ca = ParseCert(ca_pem);
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(ca.get()), X509_get0_notAfter(ca.get())), 1);
  EXPECT_GE(days, 3650);
  EXPECT_LE(days, 3654);
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(server.get()),
                           X509_get0_notAfter(server.get())), 1);
  EXPECT_GE(days, 365);
  EXPECT_LE(days, 367);

  // A second call changes nothing.
  const std::string ca_key = ReadFile(files.ca_key);
  const std::string server_key_pem = ReadFile(files.server_key);
  DevPkiFiles again;
  ASSERT_TRUE(CreateDevPki(dir, &again).ok());
  EXPECT_EQ(again.ca_cert, files.ca_cert);
  EXPECT_EQ(ReadFile(files.ca_cert), ca_pem);
  EXPECT_EQ(ReadFile(files.ca_key), ca_key);
  EXPECT_EQ(ReadFile(files.server_cert), server_pem);
  EXPECT_EQ(ReadFile(files.server_key), server_key_pem);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()), 4);
}

TEST(X509, DevPkiReissuesAMissingServerPairAndRefusesOtherGaps) {
  TempDir tmp;
  DevPkiFiles files;
  ASSERT_TRUE(CreateDevPki(tmp.path(), &files).ok());  // an existing directory is fine
  const std::string ca_pem = ReadFile(files.ca_cert);
  const std::string old_server = ReadFile(files.server_cert);

  // Server pair gone: issued again by the same CA.
  ASSERT_EQ(::unlink(files.server_cert.c_str()), 0);
  ASSERT_EQ(::unlink(files.server_key.c_str()), 0);
  ASSERT_TRUE(CreateDevPki(tmp.path(), nullptr).ok());
  EXPECT_EQ(ReadFile(files.ca_cert), ca_pem);
  EXPECT_NE(ReadFile(files.server_cert), old_server);
  EXPECT_EQ(VerifyAgainst(ReadFile(files.server_cert), ca_pem, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(FileMode(files.server_key), 0600u);

  // A key readable by others is refused, not silently used.
  ASSERT_EQ(::chmod(files.server_key.c_str(), 0644), 0);
  EXPECT_EQ(CreateDevPki(tmp.path(), nullptr).code(), StatusCode::kFailedPrecondition);
  ASSERT_EQ(::chmod(files.server_key.c_str(), 0600), 0);

  // A certificate without its key: refused, and nothing is written.
  ASSERT_EQ(::unlink(files.ca_key.c_str()), 0);
  Status s = CreateDevPki(tmp.path(), nullptr);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("ca.crt, server.crt, server.key"), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(files.ca_key));

  // A path that is a file, not a directory.
  EXPECT_EQ(CreateDevPki(files.ca_cert, nullptr).code(), StatusCode::kFailedPrecondition);
}

// ---- A real TLS handshake over a socketpair ----
//
// crypto_test links libcrypto only, so libssl is opened at run time (the test is skipped when it
// cannot be found). This keeps cairn_crypto free of libssl.

struct LibSsl {
  void* handle = nullptr;
#define CAIRN_SSL_FN(name) decltype(&::name) name = nullptr
  CAIRN_SSL_FN(TLS_server_method);
  CAIRN_SSL_FN(TLS_client_method);
  CAIRN_SSL_FN(SSL_CTX_new);
  CAIRN_SSL_FN(SSL_CTX_free);
  CAIRN_SSL_FN(SSL_CTX_use_certificate_chain_file);
  CAIRN_SSL_FN(SSL_CTX_use_PrivateKey_file);
  CAIRN_SSL_FN(SSL_CTX_check_private_key);
  CAIRN_SSL_FN(SSL_CTX_load_verify_locations);
  CAIRN_SSL_FN(SSL_CTX_set_verify);
  CAIRN_SSL_FN(SSL_new);
  CAIRN_SSL_FN(SSL_free);
  CAIRN_SSL_FN(SSL_set_fd);
  CAIRN_SSL_FN(SSL_set1_host);
  CAIRN_SSL_FN(SSL_connect);
  CAIRN_SSL_FN(SSL_accept);
  CAIRN_SSL_FN(SSL_get_verify_result);
#undef CAIRN_SSL_FN

  static const LibSsl* Get() {
    static LibSsl storage;
    static const LibSsl* lib = [] {
      LibSsl* l = &storage;
      l->handle = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
      if (l->handle == nullptr) return static_cast<LibSsl*>(nullptr);
      bool all = true;
      auto load = [&](auto& fn, const char* name) {
        fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(l->handle, name));
        all = all && fn != nullptr;
      };
#define CAIRN_SSL_LOAD(name) load(l->name, #name)
      CAIRN_SSL_LOAD(TLS_server_method);
      CAIRN_SSL_LOAD(TLS_client_method);
      CAIRN_SSL_LOAD(SSL_CTX_new);
      CAIRN_SSL_LOAD(SSL_CTX_free);
      CAIRN_SSL_LOAD(SSL_CTX_use_certificate_chain_file);
      CAIRN_SSL_LOAD(SSL_CTX_use_PrivateKey_file);
      CAIRN_SSL_LOAD(SSL_CTX_check_private_key);
      CAIRN_SSL_LOAD(SSL_CTX_load_verify_locations);
      CAIRN_SSL_LOAD(SSL_CTX_set_verify);
      CAIRN_SSL_LOAD(SSL_new);
      CAIRN_SSL_LOAD(SSL_free);
      CAIRN_SSL_LOAD(SSL_set_fd);
      CAIRN_SSL_LOAD(SSL_set1_host);
      CAIRN_SSL_LOAD(SSL_connect);
      CAIRN_SSL_LOAD(SSL_accept);
      CAIRN_SSL_LOAD(SSL_get_verify_result);
#undef CAIRN_SSL_LOAD
      return all ? l : static_cast<LibSsl*>(nullptr);
    }();
    return lib;
  }
};

struct HandshakeResult {
  bool client_ok = false;
  bool server_ok = false;
  long verify_result = -1;
};

// Server: cert_path/key_path. Client: trusts trust_path, expects `host`.
HandshakeResult Handshake(const LibSsl& ssl, const std::string& cert_path,
                          const std::string& key_path, const std::string& trust_path,
                          const std::string& host) {
  HandshakeResult out;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return out;
  SSL_CTX* server_ctx = ssl.SSL_CTX_new(ssl.TLS_server_method());
  SSL_CTX* client_ctx = ssl.SSL_CTX_new(ssl.TLS_client_method());
  EXPECT_EQ(ssl.SSL_CTX_use_certificate_chain_file(server_ctx, cert_path.c_str()), 1);
  EXPECT_EQ(ssl.SSL_CTX_use_PrivateKey_file(server_ctx, key_path.c_str(), SSL_FILETYPE_PEM), 1);
  EXPECT_EQ(ssl.SSL_CTX_check_private_key(server_ctx), 1);
  EXPECT_EQ(ssl.SSL_CTX_load_verify_locations(client_ctx, trust_path.c_str(), nullptr), 1);
  ssl.SSL_CTX_set_verify(client_ctx, SSL_VERIFY_PEER, nullptr);
  SSL* server = ssl.SSL_new(server_ctx);
  SSL* client = ssl.SSL_new(client_ctx);
  ssl.SSL_set_fd(server, fds[0]);
  ssl.SSL_set_fd(client, fds[1]);
  EXPECT_EQ(ssl.SSL_set1_host(client, host.c_str()), 1);
  std::thread server_thread([&] { out.server_ok = ssl.SSL_accept(server) == 1; });
  out.client_ok = ssl.SSL_connect(client) == 1;
  out.verify_result = ssl.SSL_get_verify_result(client);
  if (!out.client_ok) ::shutdown(fds[1], SHUT_RDWR);  // unblock the server
  server_thread.join();
  ssl.SSL_free(server);
  ssl.SSL_free(client);
  ssl.SSL_CTX_free(server_ctx);
  ssl.SSL_CTX_free(client_ctx);
  ::close(fds[0]);
  ::close(fds[1]);
  ERR_clear_error();
  return out;
}

TEST(X509, DevPkiCompletesATlsHandshakeOnlyWithItsCaAndHost) {
  const LibSsl* ssl = LibSsl::Get();
  if (ssl == nullptr) GTEST_SKIP() << "libssl.so.3 not found";
  TempDir tmp;
  DevPkiFiles files;
  ASSERT_TRUE(CreateDevPki(tmp.Sub("pki"), &files).ok());
  DevPkiFiles other;
  ASSERT_TRUE(CreateDevPki(tmp.Sub("other"), &other).ok());

  HandshakeResult good =
      Handshake(*ssl, files.server_cert, files.server_key, files.ca_cert, "localhost");
  EXPECT_TRUE(good.client_ok);
  EXPECT_TRUE(good.server_ok);
  EXPECT_EQ(good.verify_result, X509_V_OK);

  HandshakeResult wrong_ca =
      Handshake(*ssl, files.server_cert, files.server_key, other.ca_cert, "localhost");
  EXPECT_FALSE(wrong_ca.client_ok);
  EXPECT_FALSE(wrong_ca.server_ok);
  EXPECT_EQ(wrong_ca.verify_result, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

  HandshakeResult wrong_host =
      Handshake(*ssl, files.server_cert, files.server_key, files.ca_cert, "cairn.example.com");
  EXPECT_FALSE(wrong_host.client_ok);
  EXPECT_EQ(wrong_host.verify_result, X509_V_ERR_HOSTNAME_MISMATCH);
}

// The form of a certificate that OpenSSL's CA files may hold ("TRUSTED CERTIFICATE").
std::string TrustedForm(const std::string& cert_pem) {
  BIO* in = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  BIO* out = BIO_new(BIO_s_mem());
  X509_add1_trust_object(cert, OBJ_nid2obj(NID_client_auth));
  PEM_write_bio_X509_AUX(out, cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out, &data);
  std::string text(data, static_cast<size_t>(size));
  BIO_free(out);
  X509_free(cert);
  return text;
}

TEST(X509Test, CertificateBundlesAreCountedAndAnythingElseIsRefused) {
  const KeyAndCert a = CreateSelfSignedCa(CaRequest("bundle a")).value();
  const KeyAndCert b = CreateSelfSignedCa(CaRequest("bundle b")).value();
  EXPECT_EQ(CountBundleCerts(a.cert_pem, "ca").value(), 1u);
  EXPECT_EQ(CountBundleCerts("# a comment\n" + a.cert_pem + "\n\n" + b.cert_pem, "ca").value(), 2u);
  const std::string trusted = TrustedForm(b.cert_pem);
  ASSERT_NE(trusted.find("BEGIN TRUSTED CERTIFICATE"), std::string::npos);
  EXPECT_EQ(CountBundleCerts(a.cert_pem + trusted, "ca").value(), 2u);
  std::string crlf;
  for (char c : a.cert_pem) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_EQ(CountBundleCerts(crlf, "ca").value(), 1u);

  for (const std::string& bad : {std::string(), std::string("no PEM at all\n"),
                                 a.cert_pem + a.key_pem, a.key_pem,
                                 a.cert_pem + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}) {
    auto refused = CountBundleCerts(bad, "tls.client_ca");
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad.size();
    EXPECT_EQ(refused.status().message().find("PRIVATE"), std::string::npos);
  }
  // The system's CA bundle, where the ca-certificates package put one.
  const std::string system_bundle = "/etc/ssl/certs/ca-certificates.crt";
  if (std::filesystem::exists(system_bundle)) {
    auto count = CountBundleCerts(testing::ReadFile(system_bundle), "system bundle");
    ASSERT_TRUE(count.ok()) << count.status().ToString();
    EXPECT_GT(*count, 50u);
  }
}

TEST(X509Test, SummaryOfTheFirstCertificateOfAChain) {
  const KeyAndCert ca = CreateSelfSignedCa(CaRequest("summary ca")).value();
  const KeyAndCert leaf = IssueCertificate(ca, ServerRequest()).value();
  auto summary = SummarizeCert(leaf.cert_pem + ca.cert_pem, "tls.cert");
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->subject, CertSubjectRfc2253(leaf.cert_pem).value());
  EXPECT_EQ(summary->not_after_unix_s, CertNotAfterUnixSeconds(leaf.cert_pem).value());
  EXPECT_EQ(summary->not_after_unix_s - summary->not_before_unix_s, 3660);
  EXPECT_EQ(summary->sha256_hex.size(), 64u);
  EXPECT_NE(summary->sha256_hex, SummarizeCert(ca.cert_pem, "ca").value().sha256_hex);
  EXPECT_EQ(SummarizeCert("junk", "tls.cert").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::crypto
