// scrypt: RFC 7914 §12 known answers, parameter checks, and the start-up cost of the defaults.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "common/bytes.h"
#include "crypto/scrypt.h"

namespace cairn::crypto {
namespace CAIRN_UNITY_ID {

std::string Derive(std::string_view pass, std::string_view salt, ScryptParams p) {
  auto out = Scrypt(pass, salt, p, 64);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? HexEncode(out->view()) : "";
}

TEST(Scrypt, Rfc7914KnownAnswers) {
  EXPECT_EQ(Derive("", "", {16, 1, 1}),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
            "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
  EXPECT_EQ(Derive("password", "NaCl", {1024, 8, 16}),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
  EXPECT_EQ(Derive("pleaseletmein", "SodiumChloride", {16384, 8, 1}),
            "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
            "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887");
  // The 4th vector (N=2^20, 1 GiB) is left out: too heavy for a unit test.
}

TEST(Scrypt, OutputLengthIsAPrefix) {
  auto a = Scrypt("password", "NaCl", {1024, 8, 16}, 32);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(HexEncode(a->view()), "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162");
}

TEST(Scrypt, RefusesBadParameters) {
  for (ScryptParams p : {ScryptParams{0, 8, 1}, ScryptParams{1, 8, 1}, ScryptParams{1000, 8, 1},
                         ScryptParams{1024, 0, 1}, ScryptParams{1024, 8, 0},
                         ScryptParams{uint64_t{1} << 21, 8, 1},   // 2 GiB
                         ScryptParams{uint64_t{1} << 62, 1024, 1}}) {
    EXPECT_EQ(Scrypt("pw", "salt", p, 32).status().code(), StatusCode::kInvalidArgument)
        << p.n << " " << p.r << " " << p.p;
  }
  EXPECT_EQ(Scrypt("pw", "salt", {16, 1, 1}, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Scrypt("pw", "salt", {16, 1, 1}, 1025).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ScryptMemoryBytes({uint64_t{1} << 15, 8, 1}), 128u * 8 * ((1u << 15) + 3));
}

TEST(Scrypt, DefaultCostIsFitForStartUp) {
  const ScryptParams defaults;
  EXPECT_EQ(defaults.n, uint64_t{1} << 15);
  const auto start = std::chrono::steady_clock::now();
  auto key = Scrypt("correct horse battery staple", std::string(32, 's'), defaults, 32);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(key.ok());
  std::printf("scrypt N=2^15 r=8 p=1 (32 MiB): %lld ms\n", static_cast<long long>(ms));
  EXPECT_LT(ms, 5000);  // generous: sanitizer and loaded CI machines
}

}  // namespace
}  // namespace cairn::crypto
