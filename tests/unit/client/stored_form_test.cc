// CheckShownAgainstStored: the data a reader was shown equals the stored form outside exactly
// the listed protected fields — and every other difference is caught.
#include "client/stored_form.h"

#include <sys/resource.h>

#include <cstdlib>

#include <gtest/gtest.h>

namespace cairn {
namespace CAIRN_UNITY_ID {

constexpr char kStored[] =
    R"({"customerId":"c-1","email":{"$enc":"v1","kid":"k1","iv":"AA","ct":"BB"},)"
    R"("address":{"street":{"$enc":"v1","kid":"k1","iv":"CC","ct":"DD"},"city":"Oslo"},)"
    R"("a/b":[1,{"$enc":"v1","kid":"k1","iv":"EE","ct":"FF"}],"n":1.5})";

ShownFields Masked(std::vector<std::string> pointers) { return ShownFields{std::move(pointers), {}, {}}; }

const std::vector<std::string> kEncrypted = {"/email", "/address/street", "/a~1b/1"};

constexpr char kMaskedText[] =
    R"({"customerId":"c-1","email":"***","address":{"street":"***","city":"Oslo"},"a/b":[1,null],"n":1.5})";

TEST(StoredFormTest, TheShownDataMatchesOutsideExactlyTheListedFields) {
  // Masked (another member order and spacing is the same JSON).
  EXPECT_TRUE(CheckShownAgainstStored(
                  R"({"n":1.5, "customerId":"c-1","email":"***","address":{"city":"Oslo",)"
                  R"("street":"***"},"a/b":[1,null]})",
                  kStored, Masked(kEncrypted))
                  .ok());
  // Revealed plaintexts of any shape.
  EXPECT_TRUE(CheckShownAgainstStored(
                  R"({"customerId":"c-1","email":"a@b.c","address":{"street":{"no":1},"city":"Oslo"},)"
                  R"("a/b":[1,[2,3]],"n":1.5})",
                  kStored, ShownFields{{}, {}, kEncrypted})
                  .ok());
}

// Numbers compare by their spelling: a parsed value would let changed digits through (a reader
// with exact integers or decimals sees another amount). Only the server's canonical spelling of a
// stored floating point number is accepted in its place.
TEST(StoredFormTest, NumbersCompareByTheirSpelling) {
  const std::string stored =
      R"({"email":{"$enc":"v1","kid":"k1","iv":"AA","ct":"BB"},"amount":9007199254740993,)"
      R"("acct":123456789012345678901234,"price":0.1,"n":1,"m":1.50,"e":1E2})";
  const ShownFields fields = Masked({"/email"});
  auto shown = [](const std::string& amount, const std::string& acct, const std::string& price,
                  const std::string& n, const std::string& m, const std::string& e) {
    return R"({"email":"***","amount":)" + amount + R"(,"acct":)" + acct + R"(,"price":)" + price +
           R"(,"n":)" + n + R"(,"m":)" + m + R"(,"e":)" + e + "}";
  };
  const std::string as_stored = shown("9007199254740993", "123456789012345678901234", "0.1", "1", "1.50", "1E2");
  EXPECT_TRUE(CheckShownAgainstStored(as_stored, stored, fields).ok());
  // The server's DOM path: shortest round-trip doubles, integers beyond 64 bits as doubles.
  EXPECT_TRUE(CheckShownAgainstStored(shown("9007199254740993", "1.2345678901234569e+23", "0.1", "1", "1.5", "100.0"),
                                      stored, fields).ok());
  // Every other spelling, even of a value a double parser reads the same, is a difference.
  for (const std::string& forged : {
           shown("9007199254740992.0", "123456789012345678901234", "0.1", "1", "1.50", "1E2"),
           shown("9007199254740992", "123456789012345678901234", "0.1", "1", "1.50", "1E2"),
           shown("9007199254740993", "123456789012345678900000", "0.1", "1", "1.50", "1E2"),
           shown("9007199254740993", "123456789012345678901234", "0.1000000000000000055", "1", "1.50", "1E2"),
           shown("9007199254740993", "123456789012345678901234", "0.1", "1.0", "1.50", "1E2"),
           shown("9007199254740993", "123456789012345678901234", "0.1", "1", "1.500", "1E2"),
           shown("9007199254740993", "123456789012345678901234", "0.1", "1", "1.50", "100"),
           shown("9007199254740993", "123456789012345678901234", "0.1", "1", "1.50", "\"1E2\""),
       }) {
    EXPECT_EQ(CheckShownAgainstStored(forged, stored, fields).code(), StatusCode::kDataLoss) << forged;
  }
}

// -0 is read as a signed zero and written back by the server's DOM path as 0: the same number.
TEST(StoredFormTest, MinusZeroStoredMayBeShownAsZero) {
  const std::string stored = R"({"email":{"$enc":"v1","kid":"k1","iv":"AA","ct":"BB"},"z":-0})";
  EXPECT_TRUE(CheckShownAgainstStored(R"({"email":"***","z":0})", stored, Masked({"/email"})).ok());
  EXPECT_TRUE(CheckShownAgainstStored(R"({"email":"***","z":-0})", stored, Masked({"/email"})).ok());
  EXPECT_EQ(CheckShownAgainstStored(R"({"email":"***","z":0.0})", stored, Masked({"/email"})).code(),
            StatusCode::kDataLoss);
}

// A listed field is replaced where the data has it, never created: leaving it out (or showing a
// shorter array) is a difference.
TEST(StoredFormTest, AListedFieldMissingFromTheDataIsCaught) {
  const std::string stored = R"({"email":{"$enc":"v1","kid":"k1","iv":"AA","ct":"BB"},)"
                             R"("tags":[null,null,{"$enc":"v1","kid":"k1","iv":"CC","ct":"DD"}]})";
  const ShownFields fields = Masked({"/email", "/tags/2"});
  EXPECT_TRUE(CheckShownAgainstStored(R"({"email":"***","tags":[null,null,"***"]})", stored, fields).ok());
  EXPECT_EQ(CheckShownAgainstStored(R"({"tags":[null,null,"***"]})", stored, fields).code(), StatusCode::kDataLoss);
  EXPECT_EQ(CheckShownAgainstStored(R"({"email":"***","tags":[]})", stored, fields).code(), StatusCode::kDataLoss);
}

TEST(StoredFormTest, DeepNestingIsRefusedNotRecursedInto) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(CheckShownAgainstStored(deep, R"({"a":{"$enc":"v1"}})", Masked({"/a"})).code(), StatusCode::kDataLoss);
}

// A stored form of long member names over many nodes (under 1 MiB) costs its size to check, not
// names times nodes (that was 125 GB of pointer strings: an appender could stop every verifying
// consumer). Checked in a child limited to 2 GiB of address space (not under a sanitizer, which
// reserves more: CAIRN_SANITIZED).
TEST(StoredFormTest, LongNamesOverManyNodesCostTheirSizeNotTheirProduct) {
#if defined(CAIRN_SANITIZED) || defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "RLIMIT_AS and a sanitizer's shadow memory do not mix";
#else
  std::string zeros;
  for (int i = 0; i < 250000; ++i) zeros += i == 0 ? "0" : ",0";
  const std::string name(500000, 'a');
  const std::string stored = R"({"ssn":{"$enc":"v1"},")" + name + R"(":[)" + zeros + "]}";
  const std::string shown = R"({"ssn":"***",")" + name + R"(":[)" + zeros + "]}";
  const auto check_within_2_gib = [&] {
    const rlimit limit{size_t{2} << 30, size_t{2} << 30};
    setrlimit(RLIMIT_AS, &limit);
    const bool ok = CheckShownAgainstStored(shown, stored, Masked({"/ssn"})).ok();
    const Status refused = CheckShownAgainstStored(shown, stored, Masked({"/" + name + "/7"}));
    std::_Exit(ok && refused.code() == StatusCode::kDataLoss ? 0 : 1);
  };
  EXPECT_EXIT(check_within_2_gib(), ::testing::ExitedWithCode(0), "");
#endif
}

TEST(StoredFormTest, EveryOtherDifferenceIsCaught) {
  const std::string masked = kMaskedText;
  ASSERT_TRUE(CheckShownAgainstStored(masked, kStored, Masked(kEncrypted)).ok());
  auto fails = [&](const std::string& shown, const ShownFields& fields) {
    Status s = CheckShownAgainstStored(shown, kStored, fields);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << shown;
    EXPECT_EQ(s.message().find("Oslo"), std::string::npos) << "no values in messages";
  };
  std::string changed = masked;
  changed.replace(changed.find("Oslo"), 4, "Bergen");  // a clear field changed
  fails(changed, Masked(kEncrypted));
  std::string renamed = masked;
  renamed.replace(renamed.find("c-1"), 3, "c-2");
  fails(renamed, Masked(kEncrypted));
  fails(masked.substr(0, masked.size() - 1) + R"(,"x":1})", Masked(kEncrypted));  // added member
  fails(masked, Masked({"/email", "/address/street"}));  // an encrypted field not listed
  // A clear field listed (as masked, too), or the root: anything could be shown there.
  fails(R"({"customerId":"c-1","email":"***","address":{"street":"***","city":"***"},"a/b":[1,null],"n":1.5})",
        Masked({"/email", "/address/street", "/a~1b/1", "/address/city"}));
  fails(R"({"x":1})", Masked({"", "/email", "/address/street", "/a~1b/1"}));
  fails(masked, ShownFields{{"/email", "/address/street", "/a~1b/1"}, {}, {"/n"}});  // clear "revealed"
  fails(masked, ShownFields{{"/email", "/address/street", "/a~1b/1"}, {"/n"}, {}});  // clear "erased"
  fails(masked, Masked({"/email", "/email", "/address/street", "/a~1b/1"}));  // listed twice
  fails(masked, Masked({"/email", "/address/street", "/a~1b/1", "/nope"}));   // not in the stored form
  // A repeated member name: the checked and a reader's parse could differ.
  fails(R"({"customerId":"c-1","customerId":"c-9","email":"***","address":{"street":"***","city":"Oslo"},"a/b":[1,null],"n":1.5})",
        Masked(kEncrypted));
  fails("not json", Masked(kEncrypted));
  EXPECT_EQ(CheckShownAgainstStored(masked, "{", Masked(kEncrypted)).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cairn
