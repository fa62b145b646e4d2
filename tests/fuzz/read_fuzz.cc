// The Streams Read handler fed random protobuf: the input is parsed as a v1::ReadRequest
// (skipped if it does not parse) and sent through the in-process server of fuzz_server.h over a
// store filled once with known streams (plain, filtered, protected with and without read.pii, a
// deleted one, big events). Properties:
//  - every answer is OK or a gRPC status with a code and a message; an OK read ends with exactly
//    one message marked end, the last one;
//  - every event is of the stream asked for, versions run strictly in the read direction from
//    from_version, chunks hold at most the configured number of events, and events plus
//    filtered events never exceed a non-zero limit;
//  - events of a type the reader may not read ("Hidden") never appear;
//  - protected values reach only readers with read.pii: the known plaintexts never appear on a
//    stream other than "pii-*", and appear masked-free on "pii-*".
#include <string>
#include <vector>

#include "fuzz_server.h"

namespace {

using cairn::fuzz::FuzzServer;

constexpr std::string_view kSecretEmail = "alice.secret@example.com";
constexpr std::string_view kSecretCard = "4111-1111-1111-1111";
constexpr int kEventsPerStream = 150;  // > kFuzzReadChunkEventsMax: reads take several chunks

cairn::engine::ProposedEvent Event(std::string type, std::string data, std::string subject = "") {
  cairn::engine::ProposedEvent e;
  e.event_type = std::move(type);
  e.data = std::move(data);
  e.subject = std::move(subject);
  return e;
}

std::vector<cairn::engine::ProposedEvent> Batch(int first, int count, std::string_view kind) {
  std::vector<cairn::engine::ProposedEvent> batch;
  for (int i = first; i < first + count; ++i) {
    const std::string n = std::to_string(i);
    if (kind == "orders") {
      batch.push_back(Event(i % 7 == 3 ? "Hidden" : "OrderCreated", R"({"order":)" + n + "}"));
    } else if (kind == "customers") {
      batch.push_back(Event("Customer", R"({"customerId":"c-)" + n + R"(","email":")" +
                                            std::string(kSecretEmail) + R"(","tier":)" + n + "}"));
    } else if (kind == "payments") {
      batch.push_back(Event("Payment", R"({"card":")" + std::string(kSecretCard) + R"("})", "p-1"));
    } else {
      batch.push_back(Event("Big", R"({"blob":")" + std::string(60 << 10, 'b') + R"("})"));
    }
  }
  return batch;
}

void Fill(cairn::engine::EventStore& store) {
  const std::pair<std::string, std::string_view> streams[] = {
      {"orders-1", "orders"},   {"customers", "customers"}, {"pii-customers", "customers"},
      {"payments", "payments"}, {"pii-payments", "payments"}, {"deleted-1", "orders"}};
  for (const auto& [stream, kind] : streams) {
    for (int first = 0; first < kEventsPerStream; first += 50) {
      auto r = store.Append(stream, cairn::engine::ExpectedVersion::Any(), Batch(first, 50, kind));
      FUZZ_CHECK(r.ok());
    }
  }
  FUZZ_CHECK(store.DeleteStream("deleted-1", cairn::engine::ExpectedVersion::Any()).ok());
  for (int i = 0; i < 3; ++i) {
    FUZZ_CHECK(store.Append("big", cairn::engine::ExpectedVersion::Any(), Batch(i, 2, "big")).ok());
  }
}

// One event as the reader sees it.
void CheckEvent(const cairn::v1::ReadRequest& request, const cairn::v1::RecordedEvent& e) {
  FUZZ_CHECK(e.stream() == request.stream());
  FUZZ_CHECK(e.type() != "Hidden");
  const bool pii = request.stream().starts_with("pii-");
  for (std::string_view secret : {kSecretEmail, kSecretCard}) {
    const bool shown = e.data().find(secret) != std::string::npos;
    if (!pii) FUZZ_CHECK(!shown);
  }
  if (pii && (e.type() == "Customer" || e.type() == "Payment")) {
    FUZZ_CHECK(e.masked_size() == 0 && e.erased_size() == 0);
    FUZZ_CHECK(e.data().find(e.type() == "Customer" ? kSecretEmail : kSecretCard) !=
               std::string::npos);
  }
}

void CheckRead(const cairn::v1::ReadRequest& request,
               const std::vector<cairn::v1::ReadResponse>& chunks) {
  FUZZ_CHECK(!chunks.empty() && chunks.back().end());
  uint64_t events = 0, filtered = 0;
  bool have_last = false;
  uint64_t last = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto& chunk = chunks[i];
    FUZZ_CHECK(chunk.end() == (i + 1 == chunks.size()));
    FUZZ_CHECK(static_cast<uint64_t>(chunk.events_size()) <= cairn::fuzz::kFuzzReadChunkEventsMax);
    filtered += chunk.filtered_events();
    for (const auto& e : chunk.events()) {
      CheckEvent(request, e);
      const uint64_t v = e.version();
      if (!have_last) {
        FUZZ_CHECK(request.backwards() ? v <= request.from_version() : v >= request.from_version());
      } else {
        FUZZ_CHECK(request.backwards() ? v < last : v > last);
      }
      have_last = true;
      last = v;
      ++events;
    }
  }
  if (request.limit() > 0) FUZZ_CHECK(events + filtered <= request.limit());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cairn::fuzz::StartFuzzServer("read");
  Fill(cairn::fuzz::TheFuzzServer()->store());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cairn::v1::ReadRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  FuzzServer& server = *cairn::fuzz::TheFuzzServer();
  grpc::ClientContext context;
  FuzzServer::Prepare(&context);
  auto reader = server.stub().Read(&context, request);
  std::vector<cairn::v1::ReadResponse> chunks;
  cairn::v1::ReadResponse chunk;
  while (reader->Read(&chunk)) chunks.push_back(std::move(chunk));
  const grpc::Status status = reader->Finish();
  cairn::fuzz::CheckAnswered(status);
  if (status.ok()) CheckRead(request, chunks);
  return 0;
}
