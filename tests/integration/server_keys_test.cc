// Key administration end to end through the real server (Admin.ListKeys / Admin.RotateKey,
// `cairn keys`): a subject key rotation makes the subject's next events use the new version while
// earlier ones still reveal; a storage rotation starts a new epoch and the log still reads and
// verifies; the list never names a subject in clear; both RPCs need action `admin`.
#include <gtest/gtest.h>

#include <set>

#include "protect_rules.h"
#include "server_env.h"

namespace cairn::testing {
namespace CAIRN_UNITY_ID {

constexpr char kRules[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email", "/name"]
)";

v1::AppendRequest Customer(const std::string& stream, const std::string& id,
                           const std::string& email) {
  v1::AppendRequest request;
  request.set_stream(stream);
  auto* e = request.add_events();
  e->set_type("CustomerRegistered");
  e->set_data(R"({"customerId":")" + id + R"(","email":")" + email + R"(","name":"N"})");
  return request;
}

v1::AppendRequest Plain(const std::string& stream, const std::string& marker) {
  v1::AppendRequest request;
  request.set_stream(stream);
  auto* e = request.add_events();
  e->set_type("OrderCreated");
  e->set_data(R"({"marker":")" + marker + R"("})");
  return request;
}

std::vector<v1::RecordedEvent> ReadStream(Client& client, const std::string& stream) {
  std::vector<v1::RecordedEvent> events;
  v1::ReadRequest request;
  request.set_stream(stream);
  Status s = client.Read(request, [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) events.push_back(e);
    return true;
  });
  EXPECT_TRUE(s.ok()) << stream << ": " << s.ToString();
  return events;
}

std::vector<v1::KeyInfo> KeysOf(const v1::ListKeysResponse& response, const std::string& kind) {
  std::vector<v1::KeyInfo> out;
  for (const auto& k : response.keys()) {
    if (k.kind() == kind) out.push_back(k);
  }
  return out;
}

class ServerKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env.extra_config = ProtectRulesConfig(env, kRules);
    ASSERT_TRUE(env.Start()) << env.server().output();
    admin = env.ClientWith(env.admin_key);
  }
  std::vector<std::string> Remote(const std::string& token) {
    return {"--server", env.server().target(), "--ca", env.CaCert(), "--token", token};
  }
  ServerEnv env;
  std::unique_ptr<Client> admin;
};

TEST_F(ServerKeysTest, SubjectRotationUsesTheNewKidAndOldEventsStillReveal) {
  ASSERT_TRUE(admin->Append(Customer("order-c1", "alice", "alice-old@example.com")).ok());
  auto before = admin->ListKeys();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  auto subject_keys = KeysOf(*before, "subject");
  ASSERT_EQ(subject_keys.size(), 1u);
  EXPECT_EQ(subject_keys[0].version(), 1u);
  EXPECT_TRUE(subject_keys[0].current());
  const std::string old_kid = subject_keys[0].id();

  v1::RotateKeyRequest rotate;
  rotate.set_subject("alice");
  auto rotated = admin->RotateKey(rotate);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->kind(), "subject");
  const std::string new_kid = rotated->id();
  EXPECT_NE(new_kid, old_kid);
  ASSERT_TRUE(admin->Append(Customer("order-c2", "alice", "alice-new@example.com")).ok());

  auto after = admin->ListKeys();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  subject_keys = KeysOf(*after, "subject");
  ASSERT_EQ(subject_keys.size(), 2u);
  EXPECT_EQ(subject_keys[0].id(), old_kid);
  EXPECT_FALSE(subject_keys[0].current());
  EXPECT_EQ(subject_keys[1].id(), new_kid);
  EXPECT_EQ(subject_keys[1].version(), 2u);
  EXPECT_TRUE(subject_keys[1].current());
  EXPECT_EQ(subject_keys[0].subject_hash_hex(), subject_keys[1].subject_hash_hex());
  EXPECT_EQ(after->DebugString().find("alice"), std::string::npos) << after->DebugString();

  // Both events reveal their plaintext to an admin.
  auto old_events = ReadStream(*admin, "order-c1");
  ASSERT_EQ(old_events.size(), 1u);
  EXPECT_NE(old_events[0].data().find("alice-old@example.com"), std::string::npos);
  auto new_events = ReadStream(*admin, "order-c2");
  ASSERT_EQ(new_events.size(), 1u);
  EXPECT_NE(new_events[0].data().find("alice-new@example.com"), std::string::npos);

  // The stored forms name the key version they were written with.
  ASSERT_EQ(env.server().Stop(), 0);
  auto stored_old = RunCairn({"read", "order-c1", "--data-dir", env.DataDir(), "--json"});
  ASSERT_EQ(stored_old.exit_code, 0) << stored_old.err;
  EXPECT_NE(stored_old.out.find(old_kid), std::string::npos) << stored_old.out;
  auto stored_new = RunCairn({"read", "order-c2", "--data-dir", env.DataDir(), "--json"});
  ASSERT_EQ(stored_new.exit_code, 0) << stored_new.err;
  EXPECT_NE(stored_new.out.find(new_kid), std::string::npos) << stored_new.out;
  EXPECT_EQ(stored_new.out.find(old_kid), std::string::npos) << stored_new.out;
  EXPECT_EQ(stored_new.out.find("alice-new@example.com"), std::string::npos);
}

TEST_F(ServerKeysTest, RotatingAnUnknownSubjectIsNotFound) {
  v1::RotateKeyRequest rotate;
  rotate.set_subject("nobody");
  auto rotated = admin->RotateKey(rotate);
  ASSERT_FALSE(rotated.ok());
  EXPECT_EQ(rotated.status().code(), StatusCode::kNotFound);
  v1::RotateKeyRequest both;
  both.set_subject("nobody");
  both.set_storage(true);
  EXPECT_EQ(admin->RotateKey(both).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(admin->RotateKey(v1::RotateKeyRequest()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ServerKeysTest, StorageRotationStartsANewEpochAndTheLogStillReadsAndVerifies) {
  ASSERT_TRUE(admin->Append(Plain("order-1", "before")).ok());
  auto before = admin->ListKeys();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  const size_t epochs_before = KeysOf(*before, "storage").size();
  ASSERT_GE(epochs_before, 1u);

  v1::RotateKeyRequest rotate;
  rotate.set_storage(true);
  auto rotated = admin->RotateKey(rotate);
  ASSERT_TRUE(rotated.ok()) << rotated.status().ToString();
  EXPECT_EQ(rotated->kind(), "storage");
  EXPECT_EQ(rotated->id(), std::to_string(epochs_before));
  ASSERT_TRUE(admin->Append(Plain("order-1", "after")).ok());
  // Two rotations with no append between them, then more appends.
  ASSERT_TRUE(admin->RotateKey(rotate).ok());
  ASSERT_TRUE(admin->Append(Plain("order-1", "last")).ok());

  auto after = admin->ListKeys();
  ASSERT_TRUE(after.ok());
  auto epochs = KeysOf(*after, "storage");
  ASSERT_EQ(epochs.size(), epochs_before + 2);
  EXPECT_TRUE(epochs.back().current());
  EXPECT_FALSE(epochs.front().current());

  auto events = ReadStream(*admin, "order-1");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_NE(events[0].data().find("before"), std::string::npos);
  EXPECT_NE(events[1].data().find("after"), std::string::npos);
  EXPECT_NE(events[2].data().find("last"), std::string::npos);

  ASSERT_EQ(env.server().Stop(), 0);
  auto verify = RunCairn({"verify", "--data-dir", env.DataDir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto read = RunCairn({"read", "order-1", "--data-dir", env.DataDir(), "--json"});
  ASSERT_EQ(read.exit_code, 0) << read.err;
  EXPECT_NE(read.out.find("before"), std::string::npos);
  EXPECT_NE(read.out.find("last"), std::string::npos);
  // The epochs survive a restart.
  ASSERT_TRUE(env.Start()) << env.server().output();
  admin = env.ClientWith(env.admin_key);
  auto reopened = admin->ListKeys();
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(KeysOf(*reopened, "storage").size(), epochs_before + 2);
  EXPECT_EQ(ReadStream(*admin, "order-1").size(), 3u);
}

// ListKeys pages: at most page_size keys a page, each page from the previous page's
// next_page_token, every key once, the last page without a token; epochs that fill a page leave
// the subjects to the next; a malformed token is INVALID_ARGUMENT.
TEST_F(ServerKeysTest, ListKeysPagesThroughEveryKeyOnce) {
  v1::AppendRequest many;
  many.set_stream("order-many");
  for (int i = 0; i < 12; ++i) {
    *many.add_events() = Customer("x", "customer-" + std::to_string(i), "e@example.com").events(0);
  }
  ASSERT_TRUE(admin->Append(many).ok());
  v1::RotateKeyRequest storage;
  storage.set_storage(true);
  ASSERT_TRUE(admin->RotateKey(storage).ok());  // 2 storage epochs

  std::vector<std::string> listed;  // kind/id
  v1::ListKeysRequest request;
  request.set_page_size(5);
  int pages = 0;
  do {
    auto page = admin->ListKeys(request);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_LE(page->keys_size(), 5);
    EXPECT_GT(page->keys_size(), 0);
    for (const auto& k : page->keys()) listed.push_back(k.kind() + "/" + k.id());
    request.set_page_token(page->next_page_token());
    ASSERT_LT(++pages, 20);
  } while (!request.page_token().empty());
  EXPECT_EQ(pages, 3);  // 14 keys, 5 a page
  ASSERT_EQ(listed.size(), 14u);
  EXPECT_EQ(listed[0], "storage/0");
  EXPECT_EQ(listed[1], "storage/1");
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), 14u);
  // Epochs that fill a page exactly: the subjects start on the next one.
  v1::ListKeysRequest two;
  two.set_page_size(2);
  auto epochs = admin->ListKeys(two);
  ASSERT_TRUE(epochs.ok()) << epochs.status().ToString();
  ASSERT_EQ(epochs->keys_size(), 2);
  EXPECT_EQ(epochs->keys(1).kind(), "storage");
  two.set_page_token(epochs->next_page_token());
  auto subjects = admin->ListKeys(two);
  ASSERT_TRUE(subjects.ok()) << subjects.status().ToString();
  ASSERT_EQ(subjects->keys_size(), 2);
  EXPECT_EQ(subjects->keys(0).kind() + "/" + subjects->keys(0).id(), listed[2]);
  auto whole = admin->ListKeys();  // the default page holds them all
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->keys_size(), 14);
  EXPECT_TRUE(whole->next_page_token().empty());

  for (const char* bad : {"nonsense", "storage:x", "subject:abc", "storage:01"}) {
    v1::ListKeysRequest forged;
    forged.set_page_token(bad);
    auto refused = admin->ListKeys(forged);
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(refused.status().message().find("page token"), std::string::npos);
  }
}

// With limits.max_message_bytes at its floor (1024), a page holds what fits in one message (4
// keys), whatever page_size asks; paging still lists every key. Without the bound, the page of
// 21 keys (~3 KB) would be refused by gRPC's send limit (RESOURCE_EXHAUSTED).
TEST(ServerKeysMessageLimitTest, AListKeysPageFitsInOneMessage) {
  ServerEnv env;
  env.extra_config = ProtectRulesConfig(env, kRules) + "\n[limits]\nmax_message_bytes = 1024\n";
  ASSERT_TRUE(env.Start()) << env.server().output();
  auto admin = env.ClientWith(env.admin_key);
  for (int i = 0; i < 20; ++i) {
    const std::string n = std::to_string(i);
    ASSERT_TRUE(admin->Append(Customer("order-" + n, "customer-" + n, "e@example.com")).ok()) << i;
  }
  std::set<std::string> listed;
  v1::ListKeysRequest request;
  request.set_page_size(10000);
  int pages = 0;
  do {
    auto page = admin->ListKeys(request);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    EXPECT_LE(page->keys_size(), 4);
    for (const auto& k : page->keys()) listed.insert(k.kind() + "/" + k.id());
    request.set_page_token(page->next_page_token());
    ASSERT_LT(++pages, 50);
  } while (!request.page_token().empty());
  EXPECT_EQ(listed.size(), 21u);  // one storage epoch, 20 subjects
}

TEST_F(ServerKeysTest, KeyAdministrationNeedsTheAdminAction) {
  ASSERT_TRUE(admin->Append(Customer("order-c1", "alice", "a@example.com")).ok());
  auto bot = env.ClientWith(env.bot_key);
  auto list = bot->ListKeys();
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.status().code(), StatusCode::kPermissionDenied);
  v1::RotateKeyRequest storage;
  storage.set_storage(true);
  auto rotate_storage = bot->RotateKey(storage);
  ASSERT_FALSE(rotate_storage.ok());
  EXPECT_EQ(rotate_storage.status().code(), StatusCode::kPermissionDenied);
  v1::RotateKeyRequest subject;
  subject.set_subject("alice");
  auto rotate_subject = bot->RotateKey(subject);
  ASSERT_FALSE(rotate_subject.ok());
  EXPECT_EQ(rotate_subject.status().code(), StatusCode::kPermissionDenied);
  // Nothing was rotated.
  auto keys = admin->ListKeys();
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(KeysOf(*keys, "storage").size(), 1u);
  EXPECT_EQ(KeysOf(*keys, "subject").size(), 1u);
}

TEST_F(ServerKeysTest, CliListsAndRotatesOverTheNetwork) {
  ASSERT_TRUE(admin->Append(Customer("order-c1", "alice", "a@example.com")).ok());
  std::vector<std::string> rotate = {"keys", "rotate", "--subject", "alice", "--json"};
  for (const auto& a : Remote(env.admin_key)) rotate.push_back(a);
  auto rotated = RunCairn(rotate);
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out << rotated.err;
  EXPECT_NE(rotated.out.find("\"kind\":\"subject\""), std::string::npos) << rotated.out;

  std::vector<std::string> list = {"keys", "list", "--json"};
  for (const auto& a : Remote(env.admin_key)) list.push_back(a);
  auto listed = RunCairn(list);
  ASSERT_EQ(listed.exit_code, 0) << listed.out << listed.err;
  EXPECT_NE(listed.out.find("\"kind\":\"storage\""), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("\"version\":2"), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find("alice"), std::string::npos) << listed.out;

  std::vector<std::string> denied = {"keys", "rotate", "--storage"};
  for (const auto& a : Remote(env.bot_key)) denied.push_back(a);
  auto refused = RunCairn(denied);
  EXPECT_NE(refused.exit_code, 0) << refused.out;

  auto both = RunCairn({"keys", "rotate", "--storage", "--subject", "alice", "--data-dir",
                        env.DataDir()});
  EXPECT_NE(both.exit_code, 0);
}

}  // namespace
}  // namespace cairn::testing
