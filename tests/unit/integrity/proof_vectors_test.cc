// Every RFC 6962 proof test vector of transparency-dev/merkle (../shared/vectors/rfc6962),
// read from disk at test time.
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "common/bytes.h"
#include "integrity/proof.h"
#include "test_util.h"

namespace cairn::integrity {
namespace {

using nlohmann::json;

std::string DecodeField(const json& j, const char* key) {
  std::optional<std::string> bytes = Base64Decode(j.at(key).get<std::string>());
  EXPECT_TRUE(bytes.has_value()) << key;
  return bytes.value_or("");
}

std::vector<std::string> DecodeProof(const json& j) {
  std::vector<std::string> proof;
  if (j.at("proof").is_null()) return proof;
  for (const json& element : j.at("proof")) {
    std::optional<std::string> bytes = Base64Decode(element.get<std::string>());
    EXPECT_TRUE(bytes.has_value());
    proof.push_back(bytes.value_or(""));
  }
  return proof;
}

std::vector<std::string> VectorFiles(const std::string& kind) {
  return cairn::testing::ListFiles(cairn::testing::VectorsDir() + "/rfc6962/" + kind, ".json");
}

TEST(ProofVectorsTest, Inclusion) {
  const std::vector<std::string> files = VectorFiles("inclusion");
  ASSERT_GT(files.size(), 0u) << "no vectors under " << cairn::testing::VectorsDir();
  size_t accepted = 0, rejected = 0;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const json j = json::parse(cairn::testing::ReadFile(file));
    const std::vector<std::string> proof = DecodeProof(j);
    Status s = VerifyInclusion(j.at("leafIdx").get<uint64_t>(), j.at("treeSize").get<uint64_t>(),
                               DecodeField(j, "leafHash"), proof, DecodeField(j, "root"));
    if (j.at("wantErr").get<bool>()) {
      EXPECT_FALSE(s.ok()) << j.at("desc");
      ++rejected;
    } else {
      EXPECT_TRUE(s.ok()) << j.at("desc") << ": " << s.ToString();
      ++accepted;
    }
  }
  std::cout << "inclusion vectors: " << files.size() << " files, " << accepted << " valid, "
            << rejected << " invalid\n";
  EXPECT_GT(accepted, 0u);
  EXPECT_GT(rejected, 0u);
}


TEST(ProofVectorsTest, Consistency) {
  const std::vector<std::string> files = VectorFiles("consistency");
  ASSERT_GT(files.size(), 0u) << "no vectors under " << cairn::testing::VectorsDir();
  size_t accepted = 0, rejected = 0;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const json j = json::parse(cairn::testing::ReadFile(file));
    const std::vector<std::string> proof = DecodeProof(j);
    const std::string root1 = DecodeField(j, "root1"), root2 = DecodeField(j, "root2");
    const uint64_t size1 = j.at("size1").get<uint64_t>(), size2 = j.at("size2").get<uint64_t>();
    Status s = VerifyConsistency(size1, size2, proof, root1, root2);
    if (j.at("wantErr").get<bool>()) {
      EXPECT_FALSE(s.ok()) << j.at("desc");
      ++rejected;
    } else {
      EXPECT_TRUE(s.ok()) << j.at("desc") << ": " << s.ToString();
      ++accepted;
    }
  }
  std::cout << "consistency vectors: " << files.size() << " files, " << accepted << " valid, "
            << rejected << " invalid\n";
  EXPECT_GT(accepted, 0u);
  EXPECT_GT(rejected, 0u);
}

}  // namespace
}  // namespace cairn::integrity
