// CheckShownAgainstStored: the data a reader was shown equals the stored form outside exactly
// the listed protected fields — and every other difference is caught.
#include "client/stored_form.h"

#include <gtest/gtest.h>

namespace cairn {
namespace {

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
                  R"({"n":1.50, "customerId":"c-1","email":"***","address":{"city":"Oslo",)"
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
