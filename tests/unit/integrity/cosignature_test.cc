// C2SP tlog-cosignature/v1 (Ed25519) cosignatures: a known answer computed independently (Python
// `cryptography`, from the specification's text, with the seed 00 01 … 1f and the specification's
// example checkpoint and time), the key id rule, and the refusals of anything tampered.
#include "integrity/cosignature.h"

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "crypto/sha256.h"

namespace cairn::integrity {
namespace CAIRN_UNITY_ID {

constexpr std::string_view kCosignerKey =
    "PRIVATE+KEY+witness.example.com/w1+a0059f11+BAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";
constexpr std::string_view kCosignerVerifierKey =
    "witness.example.com/w1+a0059f11+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
constexpr std::string_view kText =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
constexpr uint64_t kTime = 1679315147;
const std::string kLogLine =
    "\xE2\x80\x94 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
const std::string kCosignatureLine =
    "\xE2\x80\x94 witness.example.com/w1 "
    "oAWfEQAAAABkGFDLBuRDazBLVac2NE+Y+IjbjQOcXLfF9CSDZVUIoS83rE1nFZsVE8YiWV6Ngr7lV8H6bdoBQGP/l73euDMQ9k+bBQ==\n";

std::string Note() {
  std::string note(kText);
  note += '\n';
  note += kLogLine;
  return note;
}
NoteSigner Cosigner() {
  return std::move(ParseSignerKey(kCosignerKey, kCosignatureAlgorithmEd25519)).value();
}
NoteVerifier CosignerVerifier() {
  return ParseVerifierKey(kCosignerVerifierKey, kCosignatureAlgorithmEd25519).value();
}

TEST(CosignatureTest, KnownAnswerIsByteExact) {
  auto cosigned = AddCosignature(Note(), Cosigner(), kTime);
  ASSERT_TRUE(cosigned.ok()) << cosigned.status().ToString();
  EXPECT_EQ(*cosigned, Note() + kCosignatureLine);
  EXPECT_EQ(CosignedMessage(kText, kTime),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");  // the specification's example
  auto time = VerifyCosignature(*cosigned, CosignerVerifier());
  ASSERT_TRUE(time.ok()) << time.status().ToString();
  EXPECT_EQ(*time, kTime);
  EXPECT_EQ(VerifierKeyText(Cosigner().name, Cosigner().key.public_key(), kCosignatureAlgorithmEd25519),
            kCosignerVerifierKey);
}

TEST(CosignatureTest, KeyIdIsTheSpecificationsRule) {
  const NoteVerifier v = CosignerVerifier();
  crypto::Sha256Hasher h;
  h.Update(v.name);
  h.Update(std::string_view("\n\x04", 2));
  h.Update(v.public_key);
  const crypto::Hash digest = h.Final();
  EXPECT_EQ(v.key_id, DecodeU32(reinterpret_cast<const char*>(digest.data())));
  EXPECT_NE(v.key_id, NoteKeyId(v.name, v.public_key)) << "0x04, not a note signer's 0x01";
}

TEST(CosignatureTest, AKeyOfTheOtherKindIsRefused) {
  // The same key text with a note signer's algorithm byte, and the other way round.
  EXPECT_EQ(ParseVerifierKey(kCosignerVerifierKey).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSignerKey(kCosignerKey).status().code(), StatusCode::kInvalidArgument);
  const std::string log_key = VerifierKeyText("log.example", Cosigner().key.public_key());
  EXPECT_EQ(ParseVerifierKey(log_key, kCosignatureAlgorithmEd25519).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(CosignatureTest, TamperedTextTimeOrSignatureAndMissingLinesAreRefused) {
  const std::string good = Note() + kCosignatureLine;
  std::string text_changed = good;
  text_changed[text_changed.find("20852163")] = '3';
  EXPECT_EQ(VerifyCosignature(text_changed, CosignerVerifier()).status().code(), StatusCode::kDataLoss);
  // Another time in the line: the signature covers it.
  auto later = AddCosignature(Note(), Cosigner(), kTime + 1);
  ASSERT_TRUE(later.ok());
  const std::string later_line = later->substr(Note().size());
  std::string blob = *Base64Decode(later_line.substr(later_line.rfind(' ') + 1,
                                                     later_line.size() - later_line.rfind(' ') - 2));
  blob[11] = static_cast<char>(blob[11] ^ 1);  // the timestamp's last byte: back to kTime
  const std::string swapped_time = Note() + "\xE2\x80\x94 witness.example.com/w1 " + Base64Encode(blob) + "\n";
  EXPECT_EQ(VerifyCosignature(swapped_time, CosignerVerifier()).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(VerifyCosignature(Note(), CosignerVerifier()).status().code(), StatusCode::kDataLoss)
      << "no cosignature at all";
  // Two lines by the witness: the latest time when both verify; a bad one fails the note.
  auto twice = AddCosignature(good, Cosigner(), kTime + 60);
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(*VerifyCosignature(*twice, CosignerVerifier()), kTime + 60);
  EXPECT_EQ(VerifyCosignature(good + swapped_time.substr(Note().size()), CosignerVerifier()).status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(AddCosignature(Note(), Cosigner(), kCosignatureTimestampMax + 1).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(AddCosignature(kText, Cosigner(), kTime).status().code(), StatusCode::kInvalidArgument)
      << "not a signed note";
}

// A cosignature line is another signer's line for the log's own verification: the log's note
// still opens with its key, and a consumer keeping only the log's line drops it.
TEST(CosignatureTest, TheLogsSignatureStillVerifiesBesideCosignatures) {
  auto log_key = crypto::Ed25519PrivateKey::Generate();
  ASSERT_TRUE(log_key.ok());
  const NoteSigner log{"log.example/one", std::move(log_key).value()};
  auto note = SignNote(kText, log);
  ASSERT_TRUE(note.ok());
  auto cosigned = AddCosignature(*note, Cosigner(), kTime);
  ASSERT_TRUE(cosigned.ok());
  EXPECT_TRUE(OpenNote(*cosigned, VerifierForSigner(log)).ok());
  EXPECT_EQ(*NoteSignedOnlyBy(*cosigned, VerifierForSigner(log)), *note);
  EXPECT_EQ(*VerifyCosignature(*cosigned, CosignerVerifier()), kTime);
}

}  // namespace
}  // namespace cairn::integrity
