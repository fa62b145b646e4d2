#include "integrity/checkpoint.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "tree_fixture.h"

namespace cairn::integrity {
namespace CAIRN_UNITY_ID {

constexpr std::string_view kOrigin = "cairn.example/log";

NoteSigner NewSigner(std::string_view name) {
  auto key = crypto::Ed25519PrivateKey::Generate();
  EXPECT_TRUE(key.ok());
  return NoteSigner{std::string(name), std::move(key).value()};
}

Checkpoint Sample() {
  testing::GrownTree tree(20);
  return Checkpoint{std::string(kOrigin), 20, tree.roots[20], {}};
}

TEST(CheckpointTest, FormatIsTheC2spText) {
  Checkpoint c = Sample();
  c.root.fill(0);
  EXPECT_EQ(FormatCheckpoint(c),
            "cairn.example/log\n20\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
  c.extension_lines = {"ext one", "ext-two"};
  EXPECT_EQ(FormatCheckpoint(c),
            "cairn.example/log\n20\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next one\next-two\n");
}

TEST(CheckpointTest, ParseRoundTrip) {
  Checkpoint c = Sample();
  for (uint64_t size : {uint64_t{0}, uint64_t{1}, uint64_t{20}, UINT64_MAX}) {
    c.size = size;
    for (auto ext : {std::vector<std::string>{}, std::vector<std::string>{"a", "b c"}}) {
      c.extension_lines = ext;
      auto parsed = ParseCheckpoint(FormatCheckpoint(c));
      ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
      EXPECT_EQ(*parsed, c);
    }
  }
}

TEST(CheckpointTest, SignVerifyRoundTrip) {
  NoteSigner signer = NewSigner(kOrigin);
  Checkpoint c = Sample();
  auto note = SignCheckpoint(c, signer);
  ASSERT_TRUE(note.ok()) << note.status().ToString();
  EXPECT_TRUE(note->starts_with(FormatCheckpoint(c) + "\n\xE2\x80\x94 cairn.example/log "));
  auto verified = VerifyCheckpoint(*note, VerifierForSigner(signer));
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(*verified, c);
  // Through the published key text too.
  auto verifier = ParseVerifierKey(VerifierKeyText(signer.name, signer.key.public_key()));
  ASSERT_TRUE(verifier.ok());
  EXPECT_TRUE(VerifyCheckpoint(*note, *verifier).ok());
}

TEST(CheckpointTest, TamperedCheckpointFails) {
  NoteSigner signer = NewSigner(kOrigin);
  auto note = SignCheckpoint(Sample(), signer);
  ASSERT_TRUE(note.ok());
  std::string tampered = *note;
  tampered.replace(tampered.find("\n20\n"), 4, "\n21\n");
  EXPECT_EQ(VerifyCheckpoint(tampered, VerifierForSigner(signer)).status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(VerifyCheckpoint(*note, VerifierForSigner(NewSigner(kOrigin))).status().code(),
            StatusCode::kDataLoss);
}

TEST(CheckpointTest, OriginMustMatchKeyName) {
  NoteSigner signer = NewSigner("other.example/log");
  EXPECT_EQ(SignCheckpoint(Sample(), signer).status().code(), StatusCode::kInvalidArgument);
  // A checkpoint note whose text names another origin, validly signed by this key, is refused.
  auto note = SignNote(FormatCheckpoint(Sample()), signer);
  ASSERT_TRUE(note.ok());
  auto verified = VerifyCheckpoint(*note, VerifierForSigner(signer));
  EXPECT_EQ(verified.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(verified.status().message().find("origin"), std::string::npos);
}

TEST(CheckpointTest, ParseRejections) {
  const std::string root = Base64Encode(crypto::HashView(Sample().root));
  const std::string o = std::string(kOrigin) + "\n";
  const std::vector<std::string> bad = {
      "",
      o,                                  // missing size and root
      o + "20\n",                         // missing root
      o + "20\n" + root,                  // no final newline
      "\n20\n" + root + "\n",             // empty origin
      o + "020\n" + root + "\n",          // leading zero
      o + "00\n" + root + "\n",
      o + "+20\n" + root + "\n",          // sign
      o + "-1\n" + root + "\n",
      o + " 20\n" + root + "\n",          // whitespace
      o + "20 \n" + root + "\n",
      o + "0x14\n" + root + "\n",         // not decimal
      o + "\n" + root + "\n",             // empty size
      o + "18446744073709551616\n" + root + "\n",  // 2^64
      o + "99999999999999999999999\n" + root + "\n",
      o + "20\n" + root.substr(0, 43) + "\n",       // bad base64
      o + "20\n" + root + "=\n",
      o + "20\n" + root.substr(0, 42) + "==\n",     // 31-byte root
      o + "20\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",  // 34-byte root
      o + "20\n" + HexEncode(crypto::HashView(Sample().root)) + "\n",  // hex, not base64
      o + "20\n" + root + "\n\n",          // empty extension line
      o + "20\n" + root + "\next\n\n",
      o + "20\n" + root + "\nbad\tline\n",  // control character
  };
  for (const std::string& text : bad) {
    EXPECT_EQ(ParseCheckpoint(text).status().code(), StatusCode::kDataLoss) << text;
  }
  EXPECT_TRUE(ParseCheckpoint(o + "0\n" + root + "\n").ok());
  EXPECT_TRUE(ParseCheckpoint(o + "18446744073709551615\n" + root + "\n").ok());
}

TEST(CheckpointTest, InvalidCheckpointsAreNotSigned) {
  NoteSigner signer = NewSigner(kOrigin);
  Checkpoint c = Sample();
  c.extension_lines = {""};
  EXPECT_EQ(SignCheckpoint(c, signer).status().code(), StatusCode::kInvalidArgument);
  c.extension_lines = {"two\nlines"};
  EXPECT_EQ(SignCheckpoint(c, signer).status().code(), StatusCode::kInvalidArgument);
  c = Sample();
  c.origin = "";
  EXPECT_EQ(ValidateCheckpoint(c).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::integrity
