// Stored forms written by the DOM-only code (before the splice path, commit f7c93a7) stay
// readable, read the same, and what is written now has the same form and plaintexts.
#include <gtest/gtest.h>

#include "protect/field_cipher.h"
#include "protect/json_scan.h"
#include "protect/protector.h"
#include "protect/rules.h"

namespace cairn::protect {
namespace CAIRN_UNITY_ID {

constexpr char kKid[] = "s0123456789abcdef01234567.1";

// One fixed key, as the golden data below was sealed with; Destroy() forgets it.
class FixedKeySource : public keys::SubjectKeySource {
 public:
  FixedKeySource() {
    crypto::SecureBytes bytes(32);
    for (int i = 0; i < 32; ++i) bytes.data()[i] = static_cast<uint8_t>(i * 7 + 1);
    key_ = std::make_shared<const crypto::SecureBytes>(std::move(bytes));
  }
  Result<keys::SubjectKey> KeyForWrite(std::string_view) override {
    return keys::SubjectKey{kKid, key_};
  }
  Result<keys::SubjectKey> KeyForRead(std::string_view kid) override {
    if (destroyed_ || kid != kKid) return Status::NotFound("destroyed");
    return keys::SubjectKey{std::string(kid), key_};
  }
  void Destroy() { destroyed_ = true; }
  std::shared_ptr<const crypto::SecureBytes> key() const { return key_; }

 private:
  std::shared_ptr<const crypto::SecureBytes> key_;
  bool destroyed_ = false;
};

constexpr std::string_view kRules = R"(
[[rule]]
event_type = "Mixed"
subject = "/id"
fields = ["/profile", "/arr/1", "/n", "/e", "/u", "/neg", "/big", "/missing", "/a~1b", "/t"]
)";
const std::string kEventId(16, '\x07');
constexpr std::string_view kStream = "mixed-1";

// The data the golden form was made from: escapes, unicode, nested values, non-canonical numbers.
constexpr std::string_view kData =
    R"({"id":"u-1", "profile":{"email":"a@b.c","tags":["x","y"]},"arr":[1,{"k":"v"}],"n":12.50,)"
    R"("e":"caf\u00e9 \"q\" \\ \n","u":"日本語😀","neg":-0,"big":12345678901234567890123,)"
    R"("a/b":"slash","t":true,"keep":"\u00e9"})";

// ProtectEvent of kData by the DOM-only code, with the key above.
constexpr std::string_view kGoldenStored =
    R"({"id":"u-1","profile":{"$enc":"v1","kid":"s0123456789abcdef01234567.1","iv":"NQnLhCwXP81uJatF","ct":"Nme/XCHMqrgRQKDAFKF6cjgBON4kHh1wTmUVDh9dClctar/MBeDkvNFU2giV2SQu+2I="},)"
    R"("arr":[1,{"$enc":"v1","kid":"s0123456789abcdef01234567.1","iv":"NGWCERHlmg+R80MT","ct":"9fon15y2zXqYWIJ+cMTD79VkFnts6cXaTw=="}],)"
    R"("n":{"$enc":"v1","kid":"s0123456789abcdef01234567.1","iv":"+JvDMLoNLIW+GVvQ","ct":"OlSuk7EVALVBqK4K3DaYQrQcMto="},)"
    R"("e":{"$enc":"v1","kid":"s0123456789abcdef01234567.1","iv":"laZv8xyzCgm/zz2D","ct":"U+PZQJroVWKaqQkq06BToNlWKzbrLFh+0AYqyPosZNtao60="},)"
    R"("u":{"$enc":"v1","kid":"s0123456789abcdef01234567.1","iv":"hVSsWTO7vqOyy6+q","ct":"nb6QBsdKSdMwUvO9nhTOCZm/XP15Lq1PKjbgunoI/w=="},)"
    R"("neg":{"$enc":"v1","kid":"s0123456789abcdef01234567.1","iv":"8nWYxVnEuomJKrFD","ct":"9xCFwrdz9UIBsl9vb52BcrU="},)"
    R"("big":{"$enc":"v1","kid":"s0123456789abcdef01234567.1","iv":"M4FI9iNu3QV1YuUR","ct":"GgRS9yV2jsOp4LKyd/kmm3A6f/rBPGozKwpIuqD5h/gbZgMDsCc="},)"
    R"("a/b":{"$enc":"v1","kid":"s0123456789abcdef01234567.1","iv":"4gqgSLg7TmzsWd0h","ct":"lbcfRF4P/fyz1VGNBC3SM3Ynm8oWBZY="},)"
    R"("t":{"$enc":"v1","kid":"s0123456789abcdef01234567.1","iv":"2IiEcgfiD4Cp5vIQ","ct":"VmgGPDVHfhz2irxDFRVGXDU7x+M="},"keep":"é"})";

// RevealEvent of kGoldenStored by the DOM-only code.
constexpr std::string_view kGoldenPii =
    R"({"id":"u-1","profile":{"email":"a@b.c","tags":["x","y"]},"arr":[1,{"k":"v"}],"n":12.5,)"
    R"("e":"café \"q\" \\ \n","u":"日本語😀","neg":0,"big":1.2345678901234568e+22,"a/b":"slash",)"
    R"("t":true,"keep":"é"})";
constexpr std::string_view kGoldenMasked =
    R"({"id":"u-1","profile":null,"arr":[1,null],"n":null,"e":"***","u":"***","neg":null,)"
    R"("big":null,"a/b":"***","t":null,"keep":"é"})";
const std::vector<std::string> kGoldenMaskedList = {"/profile", "/arr/1", "/n",   "/e",   "/u",
                                                    "/neg",     "/big",   "/a~1b", "/t"};

class CompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto rules = ParseRules(kRules, "rules.toml");
    ASSERT_TRUE(rules.ok()) << rules.status().ToString();
    rules_ = *rules;
  }
  const Rule& rule() { return *rules_->Find("Mixed"); }

  std::shared_ptr<const RuleSet> rules_;
  FixedKeySource keys_;
  CipherCache ciphers_;
};

TEST_F(CompatTest, GoldenStoredFormRevealsAsBefore) {
  JsonScan scan;
  ASSERT_TRUE(scan.Scan(kGoldenStored));  // read by the splice path
  for (CipherCache* ciphers : {static_cast<CipherCache*>(nullptr), &ciphers_}) {
    auto pii = RevealEvent(rule(), kStream, kEventId, kGoldenStored, true, keys_, ciphers);
    ASSERT_TRUE(pii.ok()) << pii.status().ToString();
    EXPECT_EQ(pii->data_json, kGoldenPii);  // byte for byte
    EXPECT_TRUE(pii->masked.empty());
    auto masked = RevealEvent(rule(), kStream, kEventId, kGoldenStored, false, keys_, ciphers);
    ASSERT_TRUE(masked.ok()) << masked.status().ToString();
    EXPECT_EQ(masked->data_json, kGoldenMasked);
    EXPECT_EQ(masked->masked, kGoldenMaskedList);
  }
  keys_.Destroy();
  auto erased = RevealEvent(rule(), kStream, kEventId, kGoldenStored, true, keys_, &ciphers_);
  ASSERT_TRUE(erased.ok());
  EXPECT_EQ(erased->data_json,
            R"({"id":"u-1","profile":null,"arr":[1,null],"n":null,"e":null,"u":null,)"
            R"("neg":null,"big":null,"a/b":null,"t":null,"keep":"é"})");
  EXPECT_EQ(erased->erased, kGoldenMaskedList);
}

// The plaintext inside each stored field, decrypted directly.
std::string OpenAt(const Json& stored, std::string_view field, std::string_view pointer,
                   const FixedKeySource& keys) {
  auto parsed = ParseStoredField(stored);
  EXPECT_TRUE(parsed.ok()) << field;
  if (!parsed.ok()) return "";
  auto gcm = crypto::AesGcm::Create(keys.key()->view());
  std::string plain;
  EXPECT_TRUE(gcm->Open(FieldAad(kStream, kEventId, pointer, kKid), parsed->sealed, &plain).ok());
  return plain;
}

// kData's "big" (beyond 64 bits) was stored rounded; appends now refuse it (NumberPolicy::kExact),
// and the golden form above still reads. The same data with a "big" that fits 64 bits keeps every
// other field's stored shape and plaintext, and "big" its exact value.
TEST_F(CompatTest, NewStoredFormHasTheSameShapeAndPlaintexts) {
  auto refused = ProtectEvent(rule(), kStream, kEventId, kData, "", keys_, &ciphers_);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  std::string data(kData);
  const std::string big = "12345678901234567890123";
  data.replace(data.find(big), big.size(), "12345678901234567890");  // fits uint64
  auto stored = ProtectEvent(rule(), kStream, kEventId, data, "", keys_, &ciphers_);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  // Unprotected bytes are kept as written (the space, the escaped "keep").
  EXPECT_EQ(stored->rfind(R"({"id":"u-1", "profile":{"$enc":"v1","kid":")", 0), 0u) << *stored;
  EXPECT_NE(stored->find(R"("keep":"\u00e9"})"), std::string::npos) << *stored;
  const Json doc = Json::parse(*stored);
  const Json golden = Json::parse(kGoldenStored);
  struct Case {
    std::string_view pointer;
    std::string_view plaintext;  // the compact JSON text the DOM-only code encrypted
  };
  for (const Case& c : std::vector<Case>{{"/profile", R"({"email":"a@b.c","tags":["x","y"]})"},
                                         {"/arr/1", R"({"k":"v"})"},
                                         {"/n", "12.5"},
                                         {"/e", R"("café \"q\" \\ \n")"},
                                         {"/u", R"("日本語😀")"},
                                         {"/neg", "0"},
                                         {"/a~1b", R"("slash")"},
                                         {"/t", "true"}}) {
    const JsonPointer pointer = *JsonPointer::Parse(c.pointer);
    const Json& now = *Resolve(pointer, doc);
    const Json& before = *Resolve(pointer, golden);
    // Same members in the same order, a fresh IV, the same plaintext.
    std::vector<std::string> keys_now, keys_before;
    for (auto it = now.begin(); it != now.end(); ++it) keys_now.push_back(it.key());
    for (auto it = before.begin(); it != before.end(); ++it) keys_before.push_back(it.key());
    EXPECT_EQ(keys_now, keys_before) << c.pointer;
    EXPECT_EQ(now["kid"], before["kid"]);
    EXPECT_NE(now["iv"], before["iv"]);
    EXPECT_EQ(now["ct"].get<std::string>().size(), before["ct"].get<std::string>().size());
    EXPECT_EQ(OpenAt(now, c.pointer, c.pointer, keys_), c.plaintext) << c.pointer;
    EXPECT_EQ(OpenAt(before, c.pointer, c.pointer, keys_), c.plaintext) << c.pointer;
    // Each stored object is in the compact form the DOM code wrote.
    EXPECT_NE(stored->find(now.dump()), std::string::npos) << c.pointer;
  }
  const JsonPointer big_pointer = *JsonPointer::Parse("/big");
  EXPECT_EQ(OpenAt(*Resolve(big_pointer, doc), "/big", "/big", keys_), "12345678901234567890");
  // Both forms read back to the same values, but for "big", now exact.
  auto pii_now = RevealEvent(rule(), kStream, kEventId, *stored, true, keys_, &ciphers_);
  ASSERT_TRUE(pii_now.ok()) << pii_now.status().ToString();
  Json want = Json::parse(kGoldenPii);
  want["big"] = 12345678901234567890u;
  EXPECT_EQ(Json::parse(pii_now->data_json), want);
}

}  // namespace
}  // namespace cairn::protect
