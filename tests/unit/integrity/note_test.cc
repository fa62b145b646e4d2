#include "integrity/note.h"

#include <gtest/gtest.h>

#include "common/bytes.h"

namespace cairn::integrity {
namespace CAIRN_UNITY_ID {

// The golang.org/x/mod sumdb/note known-answer vector (../shared/vectors/README.md).
constexpr std::string_view kVerifierKey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr std::string_view kSignerKey =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr std::string_view kText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
const std::string kSignedNote =
    std::string(kText) +
    "\n\xE2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

NoteVerifier Verifier() { return ParseVerifierKey(kVerifierKey).value(); }
NoteSigner Signer() { return std::move(ParseSignerKey(kSignerKey)).value(); }

NoteSigner NewSigner(const std::string& name) {
  auto key = crypto::Ed25519PrivateKey::Generate();
  EXPECT_TRUE(key.ok());
  return NoteSigner{name, std::move(key).value()};
}

TEST(NoteTest, KnownAnswerKeys) {
  auto verifier = ParseVerifierKey(kVerifierKey);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  EXPECT_EQ(verifier->name, "PeterNeumann");
  EXPECT_EQ(verifier->key_id, 0xc74f20a3u);
  EXPECT_EQ(verifier->public_key.size(), 32u);
  EXPECT_EQ(VerifierKeyText(verifier->name, verifier->public_key), kVerifierKey);

  auto signer = ParseSignerKey(kSignerKey);
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  EXPECT_EQ(signer->name, "PeterNeumann");
  EXPECT_EQ(signer->key.public_key(), verifier->public_key);
  EXPECT_EQ(SignerKeyText(signer->name, signer->key).view(), kSignerKey);
  const NoteVerifier derived = VerifierForSigner(*signer);
  EXPECT_EQ(derived.key_id, verifier->key_id);
  EXPECT_EQ(derived.public_key, verifier->public_key);
  EXPECT_EQ(NoteKeyId("PeterNeumann", verifier->public_key), 0xc74f20a3u);
}

TEST(NoteTest, KnownAnswerOpen) {
  auto text = OpenNote(kSignedNote, Verifier());
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, kText);
}

TEST(NoteTest, KnownAnswerSignIsByteExact) {
  auto note = SignNote(kText, Signer());
  ASSERT_TRUE(note.ok()) << note.status().ToString();
  EXPECT_EQ(*note, kSignedNote);  // Ed25519 is deterministic
}

TEST(NoteTest, VerifierKeyRejections) {
  const std::string key64 = "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
  const std::vector<std::string> bad = {
      "PeterNeumann+c74f20a4+" + key64,  // id off by one
      "PeterNeumann+C74F20A3+" + key64,  // upper-case hex
      "PeterNeumann+C74f20a3+" + key64,
      "PeterNeumann+c74f20a+" + key64,    // 7 digits
      "PeterNeumann+c74f20a30+" + key64,  // 9 digits
      "PeterNeumann+c74f20g3+" + key64,   // not hex
      "Peter Neumann+c74f20a3+" + key64,  // space in name
      "Peter\tNeumann+c74f20a3+" + key64,
      "Peter\xC2\xA0Neumann+c74f20a3+" + key64,  // U+00A0 no-break space
      "Peter\x01Neumann+c74f20a3+" + key64,      // control character
      "Peter\xFFNeumann+c74f20a3+" + key64,      // invalid UTF-8
      "+c74f20a3+" + key64,                      // empty name
      "PeterNeumann+c74f20a3",                   // no key
      "PeterNeumann+c74f20a3+",                  // empty key
      "PeterNeumann",
      "PeterNeumann+c74f20a3+" + key64 + "=",                         // bad base64
      "PeterNeumann+c74f20a3+AhpZ2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  // algorithm 0x02
      "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy",      // 29-byte key
      "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWAA==",  // 33-byte key
  };
  for (const std::string& text : bad) {
    auto v = ParseVerifierKey(text);
    EXPECT_FALSE(v.ok()) << text;
    if (!v.ok()) {
      EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(NoteTest, SignerKeyRejections) {
  const std::string key64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
  const std::vector<std::string> bad = {
      "PRIVATE+KEY+PeterNeumann+c74f20a4+" + key64,  // id off by one
      "PRIVATE+KEY+PeterNeumann+C74F20A3+" + key64,  // upper-case hex
      "PRIVATE+KEY+PeterNeumanN+c74f20a3+" + key64,  // other name, same id
      "PRIVATE+KEY+Peter Neumann+c74f20a3+" + key64,
      "PRIVATE+KEYS+PeterNeumann+c74f20a3+" + key64,
      "private+key+PeterNeumann+c74f20a3+" + key64,
      "PeterNeumann+c74f20a3+" + key64,
      "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXH",  // short
      "PRIVATE+KEY+PeterNeumann+c74f20a3+AoEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",  // alg 2
  };
  for (const std::string& text : bad) {
    auto s = ParseSignerKey(text);
    EXPECT_FALSE(s.ok()) << text;
    if (!s.ok()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
      EXPECT_EQ(s.status().message().find(key64), std::string::npos);  // no key bytes in errors
    }
  }
}

TEST(NoteTest, GeneratedKeysRoundTrip) {
  NoteSigner signer = NewSigner("log.example/cairn");
  const std::string vkey = VerifierKeyText(signer.name, signer.key.public_key());
  auto verifier = ParseVerifierKey(vkey);
  ASSERT_TRUE(verifier.ok()) << verifier.status().ToString();
  auto reparsed = ParseSignerKey(SignerKeyText(signer.name, signer.key).view());
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(reparsed->key.public_key(), signer.key.public_key());
  auto note = SignNote("hello\nworld\n", signer);
  ASSERT_TRUE(note.ok());
  auto text = OpenNote(*note, *verifier);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "hello\nworld\n");
}

TEST(NoteTest, SignRejectsBadText) {
  NoteSigner signer = Signer();
  for (std::string_view text : {std::string_view(""), std::string_view("no newline"),
                                std::string_view("tab\there\n"), std::string_view("cr\r\n"),
                                std::string_view("nul\0\n", 5), std::string_view("bad \xC3\x28\n")}) {
    EXPECT_EQ(SignNote(text, signer).status().code(), StatusCode::kInvalidArgument)
        << HexEncode(text);
  }
  EXPECT_TRUE(SignNote("\xE2\x80\x94 unicode is fine \xF0\x9F\x8C\xB2\n", signer).ok());
  signer.name = "bad name";
  EXPECT_EQ(SignNote("x\n", signer).status().code(), StatusCode::kInvalidArgument);
}

TEST(NoteTest, TamperedTextFails) {
  for (size_t i = 0; i < kText.size(); ++i) {
    std::string note = kSignedNote;
    note[i] = note[i] == 'x' ? 'y' : 'x';
    auto text = OpenNote(note, Verifier());
    EXPECT_FALSE(text.ok()) << i;
  }
  std::string note = kSignedNote;
  note.insert(0, "A");
  EXPECT_EQ(OpenNote(note, Verifier()).status().code(), StatusCode::kDataLoss);
}

TEST(NoteTest, TamperedSignatureFails) {
  const size_t sig_start = kText.size() + 1 + 4 + std::string("PeterNeumann ").size();
  for (size_t i = sig_start; i + 2 < kSignedNote.size(); ++i) {  // keep the '=' padding valid
    std::string note = kSignedNote;
    note[i] = note[i] == 'A' ? 'B' : 'A';
    EXPECT_EQ(OpenNote(note, Verifier()).status().code(), StatusCode::kDataLoss) << i;
  }
}

TEST(NoteTest, SignedByAnotherKeyFails) {
  // Same name, different key: the key id differs, so there is no signature by our key.
  auto other = SignNote(kText, NewSigner("PeterNeumann"));
  ASSERT_TRUE(other.ok());
  auto opened = OpenNote(*other, Verifier());
  EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("no signature"), std::string::npos);

  // A signature line that claims our name and key id but was made by another key.
  NoteSigner forger = NewSigner("Forger");
  auto forged = forger.key.Sign(kText);
  ASSERT_TRUE(forged.ok());
  std::string blob;
  PutU32(&blob, 0xc74f20a3u);
  blob += *forged;
  const std::string note =
      std::string(kText) + "\n\xE2\x80\x94 PeterNeumann " + Base64Encode(blob) + "\n";
  opened = OpenNote(note, Verifier());
  EXPECT_EQ(opened.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("does not verify"), std::string::npos);
}

TEST(NoteTest, UnknownSignatureLinesAreIgnored) {
  auto other = SignNote(kText, NewSigner("witness.example/w1"));
  ASSERT_TRUE(other.ok());
  const std::string other_line = other->substr(kText.size() + 1);
  const std::string our_line = kSignedNote.substr(kText.size() + 1);
  for (const std::string& note : {kSignedNote + other_line,
                                  std::string(kText) + "\n" + other_line + our_line}) {
    auto text = OpenNote(note, Verifier());
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    EXPECT_EQ(*text, kText);
  }
  // Unknown lines still have to be well formed.
  EXPECT_FALSE(OpenNote(kSignedNote + "\xE2\x80\x94 Other !!!!\n", Verifier()).ok());
  // ... by the spec's rule for names, which allows DEL and C1 characters (Go's x/mod accepts
  // them): such a witness line does not fail the note.
  const std::string blob = our_line.substr(our_line.rfind(' ') + 1);  // any valid base64
  for (const char* name : {"w\x7F", "w\xC2\x80"}) {
    auto text = OpenNote(kSignedNote + "\xE2\x80\x94 " + name + " " + blob, Verifier());
    EXPECT_TRUE(text.ok()) << text.status().ToString();
  }
  EXPECT_FALSE(OpenNote(kSignedNote + "\xE2\x80\x94 w+x " + blob, Verifier()).ok());
}

TEST(NoteTest, MalformedNotesRejected) {
  const std::string sig_line = kSignedNote.substr(kText.size() + 1);
  std::string b64 = sig_line.substr(sig_line.find(' ', 4) + 1);
  b64.pop_back();  // the newline
  ASSERT_EQ(b64.size(), 92u);  // base64 of 4 + 64 bytes
  const std::vector<std::string> bad = {
      "",
      std::string(kText),                                           // no signatures
      std::string(kText) + sig_line,                                // no blank line
      kSignedNote.substr(0, kSignedNote.size() - 1),                // no final newline
      kSignedNote + "\n",                                           // blank line at the end
      std::string(kText) + "\n",                                    // empty signature block
      std::string(kText) + "\n- PeterNeumann " + b64 + "\n",        // ASCII dash
      std::string(kText) + "\n\xE2\x80\x94PeterNeumann " + b64 + "\n",   // no space after dash
      std::string(kText) + "\n\xE2\x80\x94 PeterNeumann\n",         // no signature
      std::string(kText) + "\n\xE2\x80\x94 PeterNeumann \n",        // empty signature
      std::string(kText) + "\n\xE2\x80\x94 PeterNeumann  " + b64 + "\n",  // two spaces
      std::string(kText) + "\n\xE2\x80\x94 PeterNeumann " + b64.substr(1) + "\n",  // bad base64
      std::string(kText) + "\n\xE2\x80\x94 PeterNeumann xwgo/w==\n",  // 4 bytes: id only
      std::string(kText) + "\n\xE2\x80\x94  " + b64 + "\n",        // empty name
      std::string(kText) + "\n" + sig_line + "\n" + sig_line,     // blank line among signatures
      "tab\t\n" + kSignedNote.substr(kText.size()),               // control character
      "bad \xC3\x28\n" + kSignedNote.substr(kText.size()),         // invalid UTF-8
  };
  for (const std::string& note : bad) {
    auto text = OpenNote(note, Verifier());
    EXPECT_EQ(text.status().code(), StatusCode::kDataLoss) << note;
  }
}

TEST(NoteTest, SignatureLineLimit) {
  auto other = SignNote(kText, NewSigner("witness"));
  ASSERT_TRUE(other.ok());
  const std::string other_line = other->substr(kText.size() + 1);
  const std::string our_line = kSignedNote.substr(kText.size() + 1);
  std::string note = kSignedNote;
  for (size_t i = 1; i < kNoteSignatureLinesMax; ++i) note += other_line;
  EXPECT_TRUE(OpenNote(note, Verifier()).ok());  // exactly 100 lines
  note += other_line;
  EXPECT_EQ(OpenNote(note, Verifier()).status().code(), StatusCode::kDataLoss);  // 101
}

TEST(NoteTest, NamesAndText) {
  EXPECT_TRUE(IsValidNoteKeyName("example.com/log"));
  EXPECT_TRUE(IsValidNoteKeyName("caf\xC3\xA9"));
  EXPECT_FALSE(IsValidNoteKeyName(""));
  EXPECT_FALSE(IsValidNoteKeyName("a+b"));
  EXPECT_FALSE(IsValidNoteKeyName("a b"));
  EXPECT_FALSE(IsValidNoteKeyName("a\nb"));
  EXPECT_FALSE(IsValidNoteKeyName("a\x7f"));
  EXPECT_FALSE(IsValidNoteKeyName("a\xE3\x80\x80"));  // U+3000 ideographic space
  EXPECT_FALSE(IsValidNoteKeyName("\xC0\xAF"));       // overlong '/'
  EXPECT_FALSE(IsValidNoteKeyName("\xED\xA0\x80"));   // surrogate
  EXPECT_TRUE(IsValidNoteText("a\nb\n"));
  EXPECT_FALSE(IsValidNoteText("a\rb\n"));
  EXPECT_FALSE(IsValidNoteText("\xF4\x90\x80\x80"));  // above U+10FFFF
}

}  // namespace
}  // namespace cairn::integrity
