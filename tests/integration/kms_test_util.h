// Helpers shared by the KMS integration tests (kms_*_test.cc): protected and unprotected appends,
// reads, the tree size, and bounded waiting for an append outcome.
#pragma once

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cairn/client.h"

namespace cairn::testing {

inline constexpr char kKmsTestRules[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)";

inline v1::AppendRequest CustomerAppend(const std::string& stream, const std::string& id) {
  v1::AppendRequest request;
  request.set_stream(stream);
  auto* e = request.add_events();
  e->set_type("CustomerRegistered");
  e->set_data(R"({"customerId":")" + id + R"(","email":")" + id + R"(@example.com"})");
  return request;
}

inline v1::AppendRequest PlainAppend(const std::string& stream) {
  v1::AppendRequest request;
  request.set_stream(stream);
  auto* e = request.add_events();
  e->set_type("OrderCreated");
  e->set_data(R"({"n":1})");
  return request;
}

inline uint64_t TreeSize(Client& client) {
  auto info = client.ServerInfo();
  return info.ok() ? info->tree_size() : UINT64_MAX;
}

inline std::vector<v1::RecordedEvent> ReadEvents(Client& client, const std::string& stream,
                                                 Status* status) {
  std::vector<v1::RecordedEvent> events;
  v1::ReadRequest request;
  request.set_stream(stream);
  *status = client.Read(request, [&](const v1::ReadResponse& chunk) {
    for (const auto& e : chunk.events()) events.push_back(e);
    return true;
  });
  return events;
}

// Appends `request` until the outcome has code `want` (the server re-checks the KMS about once a
// second); at most 50 tries, 100 ms apart. Returns the last outcome. Each try that succeeds
// writes an event, so wait for kOk only when that is wanted.
inline Status AppendUntil(Client& client, const v1::AppendRequest& request, StatusCode want) {
  Status last;
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto r = client.Append(request);
    last = r.status();
    if (last.code() == want) return last;
    if (want != StatusCode::kOk && last.ok()) return last;  // wrote: the caller's check fails
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return last;
}

}  // namespace cairn::testing
