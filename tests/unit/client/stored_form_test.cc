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

TEST(StoredFormTest, TheShownDataMatchesOutsideExactlyTheListedFields) {
  const std::vector<std::string> listed = {"/email", "/address/street", "/a~1b/1"};
  // Masked (another member order and spacing is the same JSON).
  EXPECT_TRUE(CheckShownAgainstStored(
                  R"({"n":1.50, "customerId":"c-1","email":"***","address":{"city":"Oslo",)"
                  R"("street":"***"},"a/b":[1,null]})",
                  kStored, listed)
                  .ok());
  // Revealed plaintexts of any shape.
  EXPECT_TRUE(CheckShownAgainstStored(
                  R"({"customerId":"c-1","email":"a@b.c","address":{"street":{"no":1},"city":"Oslo"},)"
                  R"("a/b":[1,[2,3]],"n":1.5})",
                  kStored, listed)
                  .ok());
}

TEST(StoredFormTest, EveryOtherDifferenceIsCaught) {
  const std::vector<std::string> listed = {"/email", "/address/street", "/a~1b/1"};
  const std::string masked =
      R"({"customerId":"c-1","email":"***","address":{"street":"***","city":"Oslo"},"a/b":[1,null],"n":1.5})";
  ASSERT_TRUE(CheckShownAgainstStored(masked, kStored, listed).ok());
  auto fails = [&](const std::string& shown, const std::vector<std::string>& l) {
    Status s = CheckShownAgainstStored(shown, kStored, l);
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << shown;
    EXPECT_EQ(s.message().find("Oslo"), std::string::npos) << "no values in messages";
    return s;
  };
  std::string changed = masked;
  changed.replace(changed.find("Oslo"), 4, "Bergen");  // a clear field changed
  fails(changed, listed);
  std::string renamed = masked;
  renamed.replace(renamed.find("c-1"), 3, "c-2");
  fails(renamed, listed);
  fails(R"({"customerId":"c-1","email":"***","address":{"street":"***","city":"Oslo"},"a/b":[1,null],"n":1.5,"x":1})",
        listed);                                              // an added member
  fails(masked, {"/email", "/address/street"});               // a protected field not listed
  fails(masked, {"/email", "/address/street", "/a~1b/1", "/n"});  // a clear field listed
  fails(masked, {"/email", "/email", "/address/street", "/a~1b/1"});  // listed twice
  fails("not json", listed);
  EXPECT_EQ(CheckShownAgainstStored(masked, "{", listed).code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace cairn
