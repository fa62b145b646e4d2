// JWT bearer tokens (auth/jwt.h, jws_verify.h) over hostile token text, through the JwtVerifier
// and through the Authenticator (auth/authenticator.h) as an `authorization` value: the input as
// is when it contains a space (so the "Bearer" parsing is fuzzed too), else "Bearer " + input.
// Fixed trust (test keys, public; they signed the committed seeds):
//   issuer A  kid hs-1 HS256 (40-byte secret), kid ed-1 EdDSA, kid es-1 ES256;
//   issuer B  one EdDSA key without kid (tokens of B carry no kid);
//   one API key cairn_fuzz_<secret>.
// The JWKS documents live in memfds (read through /proc/self/fd): the target writes no files.
// Property: nothing is accepted unless it verifies. For every accepted token this target checks,
// with its own decoding and primitives (HMAC via crypto/hmac.h, Ed25519 via crypto/ed25519.h,
// ES256 with its own r||s → DER conversion), that the header's alg is the one pinned by the key
// that (iss, kid) names, that the signature over header.payload verifies under that key, and that
// exp/aud/sub hold at the fixed clock; the Authenticator accepts only the configured API key and
// otherwise agrees with the JwtVerifier.
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "auth/authenticator.h"
#include "auth/base64url.h"
#include "auth/jwk.h"
#include "common/bytes.h"
#include "crypto/ed25519.h"
#include "crypto/hmac.h"
#include "crypto/sha256.h"
#include "fuzz_util.h"

namespace cairn::fuzz {
namespace {

using json = nlohmann::json;

constexpr int64_t kNowUnixS = 1800000000;  // 2027-01-15; the seeds expire in 2100
constexpr int64_t kLeewayS = 30;
constexpr std::string_view kAudience = "cairn-fuzz";
constexpr std::string_view kIssuerA = "https://a.issuer.test";
constexpr std::string_view kIssuerB = "https://b.issuer.test";
constexpr std::string_view kIssuerBName = "b";
constexpr std::string_view kHmacSecret = "cairn fuzz hs256 secret, a public test key";
constexpr std::string_view kEd25519SeedA = "cairn fuzz jwt ed25519 seed A !!";
constexpr std::string_view kEd25519SeedB = "cairn fuzz jwt ed25519 seed B !!";
// P-256 test key; private scalar d = 8a442cc25371b8f0cf4f9e40d275ab2679e3cb9832608aa4d476469db0bc8317
constexpr std::string_view kEs256X = "c1bJacTdWJKqRTfGmuiWeerI7UFPM-0m4C0GV0wLqoQ";
constexpr std::string_view kEs256Y = "5CvkJkaWzsY01SJx8ezqDXhl-JzDU2NLGw6vvtRifV0";
constexpr std::string_view kApiKey = "cairn_fuzz_cairn-fuzz-api-key-secret-public-test-0001";

std::string Ed25519PublicKey(std::string_view seed) {
  auto key = crypto::Ed25519PrivateKey::FromSeed(seed);
  FUZZ_CHECK(key.ok());
  return key->public_key();
}

// A memfd holding `text`, named as a path the JWKS loader can read; never closed (lives as long
// as the process, like the verifier that rereads it).
std::string InMemoryFile(const std::string& text) {
  const int fd = memfd_create("cairn-fuzz-jwks", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(fchmod(fd, 0600) == 0);  // a memfd starts as 0777; others may not write key sets
  FUZZ_CHECK(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  return "/proc/self/fd/" + std::to_string(fd);
}

json JwksA() {
  return {{"keys",
           {{{"kty", "oct"}, {"kid", "hs-1"}, {"k", auth::Base64UrlEncode(kHmacSecret)}},
            {{"kty", "OKP"}, {"crv", "Ed25519"}, {"kid", "ed-1"},
             {"x", auth::Base64UrlEncode(Ed25519PublicKey(kEd25519SeedA))}},
            {{"kty", "EC"}, {"crv", "P-256"}, {"kid", "es-1"}, {"x", kEs256X}, {"y", kEs256Y}}}}};
}

json JwksB() {
  return {{"keys", {{{"kty", "OKP"}, {"crv", "Ed25519"},
                     {"x", auth::Base64UrlEncode(Ed25519PublicKey(kEd25519SeedB))}}}}};
}

auth::JwtIssuerConfig Issuer(std::string_view iss, const json& jwks) {
  auth::JwtIssuerConfig config;
  config.issuer = iss;
  config.audience = kAudience;
  config.jwks_file = InMemoryFile(jwks.dump());
  config.leeway_s = kLeewayS;
  config.jwks_refresh_interval_s = auth::kJwksIntervalMaxS;
  config.jwks_refetch_min_interval_s = auth::kJwksIntervalMaxS;
  return config;
}

struct Fixture {
  std::unique_ptr<auth::JwtVerifier> verifier;
  std::unique_ptr<auth::Authenticator> authenticator;
  std::shared_ptr<evp_pkey_st> es256_key;  // the same key, for this target's own ES256 check
};

const Fixture& TheFixture() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture;
    auth::AuthConfig config;
    config.jwt = {Issuer(kIssuerA, JwksA()), Issuer(kIssuerB, JwksB())};
    config.jwt[1].name = kIssuerBName;  // several issuers: at most one without a name
    auth::ApiKeyConfig api_key;
    api_key.id = "fuzz";
    api_key.secret_sha256 = HexEncode(crypto::Sha256(kApiKey));
    api_key.roles = {"reader"};
    config.api_keys = {api_key};
    config.failures_per_minute_max = auth::kFailuresPerMinuteMaxLimit;
    config.failure_sources_max = 1000;
    auto verifier = auth::JwtVerifier::Create(config.jwt);
    FUZZ_CHECK(verifier.ok());
    f->verifier = std::move(verifier).value();
    auto authenticator = auth::Authenticator::Create(config);
    FUZZ_CHECK(authenticator.ok());
    f->authenticator = std::move(authenticator).value();
    auto set = auth::ParseJwks(JwksA().dump());
    FUZZ_CHECK(set.ok() && set->Find("es-1") != nullptr);
    f->es256_key = set->Find("es-1")->public_key;
    return f;
  }();
  return *fixture;
}

// DER INTEGER of a 32-byte big-endian unsigned value.
std::string DerInteger(std::string_view be) {
  while (be.size() > 1 && be[0] == '\0') be.remove_prefix(1);
  std::string out = "\x02";
  const bool pad = static_cast<uint8_t>(be[0]) >= 0x80;
  out += static_cast<char>(be.size() + (pad ? 1 : 0));
  if (pad) out += '\0';
  out += be;
  return out;
}

bool VerifyEs256(EVP_PKEY* key, std::string_view input, std::string_view signature) {
  if (signature.size() != 64) return false;
  std::string body = DerInteger(signature.substr(0, 32)) + DerInteger(signature.substr(32));
  std::string der = "\x30" + std::string(1, static_cast<char>(body.size())) + body;
  const crypto::Hash digest = crypto::Sha256(input);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key, nullptr);
  FUZZ_CHECK(ctx != nullptr);
  const bool ok = EVP_PKEY_verify_init(ctx) == 1 &&
                  EVP_PKEY_verify(ctx, reinterpret_cast<const uint8_t*>(der.data()), der.size(),
                                  digest.data(), digest.size()) == 1;
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

// True when `signature` over `input` verifies under the fixed key that (iss, kid) names and that
// key pins `alg`.
bool SignedByFixedKey(const std::string& iss, const std::string& kid, const std::string& alg,
                      std::string_view input, std::string_view signature) {
  if (iss == kIssuerB) {
    return kid.empty() && alg == "EdDSA" &&
           crypto::Ed25519Verify(Ed25519PublicKey(kEd25519SeedB), input, signature);
  }
  if (iss != kIssuerA) return false;
  if (kid == "hs-1" && alg == "HS256") {
    auto mac = crypto::HmacSha256(kHmacSecret, input);
    FUZZ_CHECK(mac.ok());
    return std::string_view(reinterpret_cast<const char*>(mac->data()), mac->size()) == signature;
  }
  if (kid == "ed-1" && alg == "EdDSA") {
    return crypto::Ed25519Verify(Ed25519PublicKey(kEd25519SeedA), input, signature);
  }
  return kid == "es-1" && alg == "ES256" && VerifyEs256(TheFixture().es256_key.get(), input, signature);
}

json DecodePart(std::string_view part) {
  auto text = auth::Base64UrlDecode(part);
  FUZZ_CHECK(text.has_value());
  json value = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(value.is_object());
  return value;
}

void CheckAccepted(std::string_view token, const Principal& principal) {
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  FUZZ_CHECK(dot1 != std::string_view::npos && dot2 > dot1);
  const json header = DecodePart(token.substr(0, dot1));
  const json claims = DecodePart(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = auth::Base64UrlDecode(token.substr(dot2 + 1));
  FUZZ_CHECK(signature.has_value());
  FUZZ_CHECK(header.contains("alg") && header["alg"].is_string());
  FUZZ_CHECK(claims.contains("iss") && claims["iss"].is_string());
  const std::string kid = header.contains("kid") ? header["kid"].get<std::string>() : "";
  FUZZ_CHECK(SignedByFixedKey(claims["iss"], kid, header["alg"], token.substr(0, dot2), *signature));
  FUZZ_CHECK(claims.contains("exp") && claims["exp"].is_number());
  FUZZ_CHECK(claims["exp"].get<double>() + kLeewayS >= kNowUnixS);
  const json audience = std::string(kAudience);
  FUZZ_CHECK(claims.contains("aud") && claims.contains("sub"));
  const json& aud = claims["aud"];
  FUZZ_CHECK(aud == audience || (aud.is_array() && std::count(aud.begin(), aud.end(), audience) > 0));
  FUZZ_CHECK(claims["sub"].is_string());
  const std::string sub = claims["sub"].get<std::string>();
  if (claims["iss"] == kIssuerB) {
    FUZZ_CHECK(principal.id == "jwt:" + std::string(kIssuerBName) + ":" + sub);
  } else {  // the unnamed issuer never mints a principal of the named one
    FUZZ_CHECK(principal.id == "jwt:" + sub && sub.rfind(std::string(kIssuerBName) + ":", 0) != 0);
  }
  FUZZ_CHECK(principal.method == AuthMethod::kJwt);
}

// A new peer address every 2^19 calls keeps the failure limiter (10^6 a minute) out of the way.
std::string PeerAddress() {
  static uint64_t calls = 0;
  return "fuzz-peer-" + std::to_string(calls++ >> 19);
}

void FuzzAuthenticator(std::string_view input) {
  const Fixture& f = TheFixture();
  const std::string authorization =
      input.find(' ') == std::string_view::npos ? "Bearer " + std::string(input) : std::string(input);
  const std::string peer = PeerAddress();
  auto principal = f.authenticator->Authenticate({authorization, "", peer}, kNowUnixS);
  if (!principal.ok()) {
    FUZZ_CHECK(principal.status().code() == StatusCode::kUnauthenticated);
    return;
  }
  const std::string_view credential = std::string_view(authorization).substr(authorization.find(' ') + 1);
  if (principal->method == AuthMethod::kApiKey) {
    FUZZ_CHECK(credential == kApiKey);
    return;
  }
  auto direct = f.verifier->Verify(credential, kNowUnixS);
  FUZZ_CHECK(direct.ok() && direct->id == principal->id && direct->roles == principal->roles);
}

}  // namespace
}  // namespace cairn::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  const std::string_view input = fuzz::AsView(data, size);
  auto principal = fuzz::TheFixture().verifier->Verify(input, fuzz::kNowUnixS);
  if (principal.ok()) {
    fuzz::CheckAccepted(input, *principal);
  } else {
    FUZZ_CHECK(principal.status().code() == StatusCode::kUnauthenticated);
  }
  fuzz::FuzzAuthenticator(input);
  return 0;
}
