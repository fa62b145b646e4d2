// Every RFC 6962 proof test vector of transparency-dev/merkle (../shared/vectors/rfc6962),
// read from disk at test time.
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <functional>

#include "common/bytes.h"
#include "integrity/proof.h"
#include "test_util.h"

namespace cairn::integrity {
namespace CAIRN_UNITY_ID {

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

// Runs `verify` on every vector file of `kind`: wantErr cases must be rejected, the rest
// accepted, and both kinds must occur (so the test cannot pass on an empty or one-sided set).
void ExpectVectorVerdicts(const std::string& kind, const std::function<Status(const json&)>& verify) {
  const std::vector<std::string> files = VectorFiles(kind);
  ASSERT_GT(files.size(), 0u) << "no vectors under " << cairn::testing::VectorsDir();
  size_t accepted = 0, rejected = 0;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const json j = json::parse(cairn::testing::ReadFile(file));
    const Status s = verify(j);
    if (j.at("wantErr").get<bool>()) {
      EXPECT_FALSE(s.ok()) << j.at("desc");
      ++rejected;
    } else {
      EXPECT_TRUE(s.ok()) << j.at("desc") << ": " << s.ToString();
      ++accepted;
    }
  }
  std::cout << kind << " vectors: " << files.size() << " files, " << accepted << " valid, "
            << rejected << " invalid\n";
  EXPECT_GT(accepted, 0u);
  EXPECT_GT(rejected, 0u);
}

TEST(ProofVectorsTest, Inclusion) {
  ExpectVectorVerdicts("inclusion", [](const json& j) {
    return VerifyInclusion(j.at("leafIdx").get<uint64_t>(), j.at("treeSize").get<uint64_t>(),
                           DecodeField(j, "leafHash"), DecodeProof(j), DecodeField(j, "root"));
  });
}

TEST(ProofVectorsTest, Consistency) {
  ExpectVectorVerdicts("consistency", [](const json& j) {
    return VerifyConsistency(j.at("size1").get<uint64_t>(), j.at("size2").get<uint64_t>(),
                             DecodeProof(j), DecodeField(j, "root1"), DecodeField(j, "root2"));
  });
}

}  // namespace
}  // namespace cairn::integrity
