// The stored form of an ESDB persistent subscription's settings: round trip, and a damaged record
// is DATA_LOSS — never an exception (decoding runs inside gRPC reactions, where one would end the
// process).
#include "server/esdb/persistent_names.h"

#include <gtest/gtest.h>

namespace cairn::server::esdb {
namespace {

TEST(EsdbGroupRecord, RoundTripsAndRefusesDamagedRecordsWithoutThrowing) {
  EsdbGroupRecord r;
  r.stream = "orders-1";
  r.group = "billing";
  r.start_from = "C:10/P:10";
  r.max_retry_count = 3;
  const std::string text = EncodeEsdbGroupRecord(r);
  auto back = DecodeEsdbGroupRecord(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->group, "billing");
  EXPECT_EQ(back->start_from, "C:10/P:10");
  EXPECT_EQ(back->max_retry_count, 3);

  const std::string damaged[] = {
      "", "[]", "{}", R"({"v":"1"})", R"({"v":null})", R"({"v":1.5})", R"({"v":2})",
      R"({"v":1,"stream":7})", R"({"v":1})"};
  for (const std::string& d : damaged) {
    Result<EsdbGroupRecord> decoded = Status::Internal("not decoded");
    ASSERT_NO_THROW(decoded = DecodeEsdbGroupRecord(d)) << d;
    EXPECT_EQ(decoded.status().code(), StatusCode::kDataLoss) << d;
  }
}

}  // namespace
}  // namespace cairn::server::esdb
