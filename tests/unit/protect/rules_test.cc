// Parsing protection rules files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "protect/rules.h"
#include "test_util.h"

namespace cairn::protect {
namespace CAIRN_UNITY_ID {

constexpr std::string_view kGood = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email", "/name", "/address/street"]
mask = '"***"'
erased = 'null'

[[rule]]
event_type = "PaymentMade"
subject = "$subject"
fields = ["/card", "/a~1b"]
erased = '{"gone": true}'
)";

Status ErrorOf(std::string_view text) {
  auto rules = ParseRules(text, "rules.toml");
  return rules.ok() ? Status::Ok() : rules.status();
}

// The error is kInvalidArgument at `line` and its message contains `what`.
void ExpectError(std::string_view text, int line, const std::string& what) {
  Status s = ErrorOf(text);
  ASSERT_FALSE(s.ok()) << text;
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("rules.toml:" + std::to_string(line) + ":"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find(what), std::string::npos) << s.message();
}

TEST(Rules, ParsesAGoodFile) {
  auto rules = ParseRules(kGood, "rules.toml");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_EQ((*rules)->rules().size(), 2u);
  const Rule* customer = (*rules)->Find("CustomerRegistered");
  ASSERT_NE(customer, nullptr);
  EXPECT_FALSE(customer->subject_from_append);
  EXPECT_EQ(customer->subject.text(), "/customerId");
  ASSERT_EQ(customer->fields.size(), 3u);
  EXPECT_EQ(customer->fields[2].tokens(), (std::vector<std::string>{"address", "street"}));
  ASSERT_TRUE(customer->mask.has_value());
  EXPECT_EQ(*customer->mask, "***");
  EXPECT_EQ(customer->MaskFor(Json(5)), "***");  // an explicit mask applies to every type
  EXPECT_TRUE(customer->erased.is_null());

  const Rule* payment = (*rules)->Find("PaymentMade");
  ASSERT_NE(payment, nullptr);
  EXPECT_TRUE(payment->subject_from_append);
  EXPECT_EQ(payment->SubjectText(), "$subject");
  EXPECT_EQ(payment->fields[1].tokens()[0], "a/b");
  EXPECT_FALSE(payment->mask.has_value());
  EXPECT_EQ(payment->MaskFor(Json("x")), "***");  // default: "***" for strings
  EXPECT_TRUE(payment->MaskFor(Json(42)).is_null());  // null otherwise
  EXPECT_TRUE(payment->MaskFor(Json::array()).is_null());
  EXPECT_EQ(payment->erased, Json::parse(R"({"gone":true})"));

  EXPECT_EQ((*rules)->Find("Other"), nullptr);
  EXPECT_EQ((*rules)->Find("customerregistered"), nullptr);
  EXPECT_TRUE(ParseRules("", "empty.toml").ok());
  EXPECT_TRUE((*ParseRules("# nothing\n", "c.toml"))->rules().empty());
}

TEST(Rules, RejectsUnknownKeysNamingKeyAndLine) {
  ExpectError("[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfeilds = [\"/x\"]\n", 4, "feilds");
  ExpectError("[[rules]]\nevent_type = \"A\"\n", 1, "rules");
  ExpectError("x = 1\n", 1, "'x'");
}

TEST(Rules, RejectsMissingAndMistypedKeys) {
  ExpectError("[[rule]]\nsubject = \"/s\"\nfields = [\"/x\"]\n", 1, "event_type");
  ExpectError("[[rule]]\nevent_type = \"A\"\nfields = [\"/x\"]\n", 1, "subject");
  ExpectError("[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\n", 1, "fields");
  ExpectError("[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfields = []\n", 4, "empty");
  ExpectError("[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfields = \"/x\"\n", 4, "fields");
  ExpectError("[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfields = [1]\n", 4, "fields");
  ExpectError("[[rule]]\nevent_type = 1\nsubject = \"/s\"\nfields = [\"/x\"]\n", 2, "event_type");
  ExpectError("[[rule]]\nevent_type = \"\"\nsubject = \"/s\"\nfields = [\"/x\"]\n", 2, "event_type");
  ExpectError("rule = 1\n", 1, "rule");
  ExpectError("[[rule]\n", 1, "invalid TOML");
}

TEST(Rules, RejectsDuplicateEventTypes) {
  ExpectError(
      "[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfields = [\"/x\"]\n"
      "[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfields = [\"/y\"]\n",
      6, "duplicate rule for event type 'A'");
}

TEST(Rules, ValidatesPointers) {
  const std::string head = "[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\n";
  ExpectError(head + "fields = [\"email\"]\n", 4, "'email'");       // no leading '/'
  ExpectError(head + "fields = [\"/a~2\"]\n", 4, "'~'");            // bad escape
  ExpectError(head + "fields = [\"\"]\n", 4, "root");               // the root
  ExpectError(head + "fields = [\"/x\", \"/x\"]\n", 4, "twice");    // duplicate
  ExpectError(head + "fields = [\"/a\", \"/a/b\"]\n", 4, "overlap"); // prefix
  ExpectError(head + "fields = [\"/a/b\", \"/a\"]\n", 4, "overlap");
  EXPECT_TRUE(ErrorOf(head + "fields = [\"/a\", \"/ab\"]\n").ok());  // not a token prefix
  ExpectError(head + "fields = [\"/s\"]\n", 4, "subject");          // the subject itself
  ExpectError("[[rule]]\nevent_type = \"A\"\nsubject = \"/c/id\"\nfields = [\"/c\"]\n", 4,
              "subject");  // would encrypt the subject
  ExpectError("[[rule]]\nevent_type = \"A\"\nsubject = \"\"\nfields = [\"/x\"]\n", 3, "root");
  ExpectError("[[rule]]\nevent_type = \"A\"\nsubject = \"customerId\"\nfields = [\"/x\"]\n", 3,
              "subject");
  ExpectError(head + "fields = [\"/" + std::string(kJsonPointerSizeBytesMax, 'a') + "\"]\n", 4,
              "longer than");
  // "$subject" has no pointer to overlap: a field "/s" is fine.
  EXPECT_TRUE(ErrorOf("[[rule]]\nevent_type = \"A\"\nsubject = \"$subject\"\nfields = [\"/s\"]\n").ok());
}

TEST(Rules, ValidatesMaskAndErased) {
  const std::string head = "[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfields = [\"/x\"]\n";
  ExpectError(head + "mask = '***'\n", 5, "mask");
  ExpectError(head + "erased = '{'\n", 5, "erased");
  ExpectError(head + "mask = 1\n", 5, "mask");
  ExpectError(head + "mask = '{\"$enc\":\"v1\"}'\n", 5, "$enc");
  ExpectError(head + "mask = '\"a\" \"b\"'\n", 5, "mask");
  auto rules = ParseRules(head + "mask = '[1, {\"k\": \"v\"}]'\nerased = '\"[erased]\"'\n", "r");
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_EQ(*(*rules)->Find("A")->mask, Json::parse(R"([1,{"k":"v"}])"));
  EXPECT_EQ((*rules)->Find("A")->erased, "[erased]");
}

TEST(Rules, EnforcesLimits) {
  std::string fields = "fields = [";
  for (size_t i = 0; i <= kRuleFieldsMax; ++i) fields += "\"/f" + std::to_string(i) + "\",";
  fields += "]\n";
  ExpectError("[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\n" + fields, 4, "more than");

  std::string many;
  for (size_t i = 0; i <= kRulesMax; ++i) {
    many += "[[rule]]\nevent_type = \"T" + std::to_string(i) + "\"\nsubject = \"/s\"\n"
            "fields = [\"/x\"]\n";
  }
  Status s = ErrorOf(many);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("more than 1024 rules"), std::string::npos) << s.message();

  std::string big(kRulesFileSizeBytesMax + 1, '#');
  EXPECT_EQ(ErrorOf(big).code(), StatusCode::kResourceExhausted);
  ExpectError("[[rule]]\nevent_type = \"" + std::string(kRuleEventTypeSizeBytesMax + 1, 'E') +
                  "\"\nsubject = \"/s\"\nfields = [\"/x\"]\n",
              2, "event_type");
}

TEST(Rules, LoadsFromAFile) {
  cairn::testing::TempDir tmp;
  const std::string path = tmp.Sub("rules.toml");
  cairn::testing::WriteFile(path, std::string(kGood));
  ::chmod(path.c_str(), 0640);
  auto rules = LoadRules(path);
  ASSERT_TRUE(rules.ok()) << rules.status().ToString();
  EXPECT_NE((*rules)->Find("PaymentMade"), nullptr);
  EXPECT_EQ((*rules)->source(), path);

  ::chmod(path.c_str(), 0646);
  EXPECT_EQ(LoadRules(path).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(LoadRules(tmp.Sub("missing.toml")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LoadRules(tmp.path()).status().code(), StatusCode::kInvalidArgument);  // a directory

  const std::string bad = tmp.Sub("bad.toml");
  cairn::testing::WriteFile(bad, "[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfieldz = []\n");
  ::chmod(bad.c_str(), 0600);
  Status s = LoadRules(bad).status();
  EXPECT_NE(s.message().find(bad + ":4:"), std::string::npos) << s.message();
}

std::string DigestOf(const std::string& text) {
  auto rules = ParseRules(text, "rules.toml");
  EXPECT_TRUE(rules.ok()) << rules.status().ToString();
  return rules.ok() ? (*rules)->DigestHex() : "";
}

TEST(Rules, TheDigestNamesWhatIsProtectedNotHowTheFileIsWritten) {
  const std::string a = "[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfields = [\"/x\", \"/y\"]\n";
  const std::string b = "[[rule]]\nevent_type = \"B\"\nsubject = \"$subject\"\nfields = [\"/z\"]\nmask = 'null'\n";
  const std::string base = DigestOf(a + b);
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(DigestOf("# comment\n" + b + "\n\n" + a), base) << "order and layout do not count";
  EXPECT_NE(DigestOf(""), base);
  EXPECT_EQ(DigestOf(""), DigestOf("# nothing\n"));
  // Every part of a rule counts.
  EXPECT_NE(DigestOf(a), base);
  EXPECT_NE(DigestOf("[[rule]]\nevent_type = \"A\"\nsubject = \"/s\"\nfields = [\"/x\"]\n" + b), base);
  EXPECT_NE(DigestOf("[[rule]]\nevent_type = \"A\"\nsubject = \"/t\"\nfields = [\"/x\", \"/y\"]\n" + b), base);
  EXPECT_NE(DigestOf("[[rule]]\nevent_type = \"C\"\nsubject = \"/s\"\nfields = [\"/x\", \"/y\"]\n" + b), base);
  EXPECT_NE(DigestOf(a + "[[rule]]\nevent_type = \"B\"\nsubject = \"$subject\"\nfields = [\"/z\"]\n"), base)
      << "the mask counts";
  EXPECT_NE(DigestOf(a + b.substr(0, b.size() - 1) + "\nerased = '\"gone\"'\n"), base) << "the erased value counts";
}

}  // namespace
}  // namespace cairn::protect
