// `cairn witness keygen | verify` and `cairn checkpoint --cosign-key-file`: a witness cosigns
// (C2SP tlog-cosignature/v1) only a checkpoint it checked and kept, and a log client checks the
// log's signature and a quorum of cosignatures. Refusals: no kept file, an exposed or wrong-kind
// key file, an existing key file, a tampered note, too few cosignatures.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "integrity/note.h"
#include "test_util.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

class WitnessCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data = dir.Sub("data");
    ASSERT_EQ(RunCairn({"init", "--data-dir", data}).exit_code, 0);
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(RunCairn({"append", "orders-1", "--type", "T", "--data", "{}", "--data-dir", data}).exit_code, 0);
    }
    auto vkey = RunCairn({"vkey", "--data-dir", data});
    ASSERT_EQ(vkey.exit_code, 0) << vkey.err;
    log_key = FirstLine(vkey.out);
    witness_key = Keygen("witness.example.org/w1", "w1.key");
  }

  std::string Keygen(const std::string& name, const std::string& file) {
    auto made = RunCairn({"witness", "keygen", "--name", name, "--out", dir.Sub(file)});
    EXPECT_EQ(made.exit_code, 0) << made.err;
    return FirstLine(made.out);
  }

  CommandResult Cosign(const std::string& key_file) {
    return RunCairn({"checkpoint", "--data-dir", data, "--verifier-key", log_key, "--checkpoint-file",
                     dir.Sub("kept"), "--cosign-key-file", key_file});
  }

  CommandResult Verify(const std::string& note_file, std::vector<std::string> extra) {
    std::vector<std::string> args = {"witness", "verify", "--note-file", note_file, "--verifier-key", log_key};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCairn(args);
  }

  TempDir dir;
  std::string data, log_key, witness_key;
};

TEST_F(WitnessCliTest, AWitnessCosignsWhatItKeptAndAClientChecksTheQuorum) {
  struct stat st {};
  ASSERT_EQ(::stat(dir.Sub("w1.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(witness_key.rfind("witness.example.org/w1+", 0), 0u) << witness_key;
  EXPECT_EQ(RunCairn({"witness", "keygen", "--name", "w", "--out", dir.Sub("w1.key")}).exit_code, 1)
      << "an existing key file is never overwritten";

  auto cosigned = Cosign(dir.Sub("w1.key"));
  ASSERT_EQ(cosigned.exit_code, 0) << cosigned.err;
  EXPECT_NE(cosigned.out.find("\xE2\x80\x94 witness.example.org/w1 "), std::string::npos) << cosigned.out;
  EXPECT_EQ(ReadFile(dir.Sub("kept")).find("witness.example.org"), std::string::npos)
      << "the kept file holds the log's signature only";
  WriteFile(dir.Sub("cosigned.note"), cosigned.out);
  auto ok = Verify(dir.Sub("cosigned.note"), {"--witness-key", witness_key});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("witness.example.org/w1: cosigned at "), std::string::npos) << ok.out;

  // Two witnesses named, one cosigned: refused unless one is enough.
  const std::string other = Keygen("witness.example.org/w2", "w2.key");
  EXPECT_EQ(Verify(dir.Sub("cosigned.note"), {"--witness-key", witness_key, "--witness-key", other}).exit_code, 1);
  auto one_of_two = Verify(dir.Sub("cosigned.note"),
                           {"--witness-key", witness_key, "--witness-key", other, "--witnesses-min", "1", "--json"});
  EXPECT_EQ(one_of_two.exit_code, 0) << one_of_two.out << one_of_two.err;
  EXPECT_NE(one_of_two.out.find("\"ok\":true"), std::string::npos) << one_of_two.out;
  // One witness named twice is still one witness: refused as a usage error, not a quorum of 2.
  EXPECT_EQ(Verify(dir.Sub("cosigned.note"),
                   {"--witness-key", witness_key, "--witness-key", witness_key, "--witnesses-min", "2"})
                .exit_code,
            2);

  // A changed checkpoint: neither the log's signature nor the cosignature holds.
  std::string tampered = cosigned.out;
  tampered[tampered.find('\n') + 1] = '9';  // the size line
  WriteFile(dir.Sub("tampered.note"), tampered);
  auto refused = Verify(dir.Sub("tampered.note"), {"--witness-key", witness_key});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("not signed by the log's key"), std::string::npos) << refused.err;
  // The log's checkpoint without the cosignature (the kept file): no cosignature, refused.
  EXPECT_EQ(Verify(dir.Sub("kept"), {"--witness-key", witness_key}).exit_code, 1);
}

TEST_F(WitnessCliTest, CosigningNeedsAKeptFileAndAPrivateCosignerKey) {
  auto no_kept = RunCairn({"checkpoint", "--data-dir", data, "--verifier-key", log_key,
                           "--cosign-key-file", dir.Sub("w1.key")});
  EXPECT_EQ(no_kept.exit_code, 2) << "a witness cosigns only what it checked and kept";
  ASSERT_EQ(::chmod(dir.Sub("w1.key").c_str(), 0644), 0);
  auto exposed = Cosign(dir.Sub("w1.key"));
  EXPECT_EQ(exposed.exit_code, 1);
  EXPECT_NE(exposed.err.find("group or others"), std::string::npos) << exposed.err;
  EXPECT_EQ(exposed.err.find(ReadFile(dir.Sub("w1.key")).substr(40, 20)), std::string::npos)
      << "no key bytes in the message";
  // The log's own kind of key (a note signer, 0x01) is not a cosigner key.
  auto log_signer = crypto::Ed25519PrivateKey::Generate();
  ASSERT_TRUE(log_signer.ok());
  const std::string note_key(integrity::SignerKeyText("log.example", *log_signer).view());
  WriteFile(dir.Sub("wrong.key"), note_key + "\n");
  ASSERT_EQ(::chmod(dir.Sub("wrong.key").c_str(), 0600), 0);
  auto wrong = Cosign(dir.Sub("wrong.key"));
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("cosignature key (0x04)"), std::string::npos) << wrong.err;
  // The key's last 20 base64 characters (base64 itself may hold '+', so no splitting on it).
  EXPECT_EQ(wrong.err.find(note_key.substr(note_key.size() - 20)), std::string::npos)
      << "no key bytes in the message";
}

}  // namespace
}  // namespace cairn::testing
