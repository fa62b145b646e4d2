// The Streams Append handler fed random protobuf: the input is parsed as a v1::AppendRequest
// (skipped if it does not parse) and sent through the in-process server of fuzz_server.h (real
// CallGate, policy, protection rules and EventStore). Properties:
//  - every answer is OK or a gRPC status with a code and a message;
//  - all or nothing: a refused append leaves the tree size as it was; an accepted one (not an
//    idempotent replay) adds exactly its events at the positions and versions it answered, and
//    reading them back gives the events sent (ids, types, unprotected data);
//  - the log stays verifiable: every kCheckEveryInputs inputs a new checkpoint is consistent with
//    the previous one (RFC 9162 proof); every kRecycleEveryInputs inputs, or past
//    kTreeSizeMax events, the whole log is verified and the store starts over (bounded disk).
#include <string>

#include "fuzz_server.h"
#include "integrity/proof.h"

namespace {

using cairn::fuzz::FuzzServer;

constexpr uint64_t kCheckEveryInputs = 1000;
constexpr uint64_t kRecycleEveryInputs = 10000;
constexpr uint64_t kTreeSizeMax = 50000;

struct LogWatch {
  uint64_t inputs = 0;
  cairn::engine::SignedCheckpoint last;  // size 0: none yet since the (re)start
};

LogWatch& Watch() {
  static LogWatch watch;
  return watch;
}

// A new checkpoint is consistent with the last one: the log only grew.
void CheckCheckpoint(FuzzServer& server) {
  auto cp = server.store().Checkpoint();
  FUZZ_CHECK(cp.ok() && cp->size == server.store().tree_size());
  LogWatch& w = Watch();
  FUZZ_CHECK(cp->size >= w.last.size);
  if (w.last.size > 0) {
    auto proof = server.store().ProveConsistency(w.last.size, cp->size);
    FUZZ_CHECK(proof.ok());
    FUZZ_CHECK(cairn::integrity::VerifyConsistency(w.last.size, cp->size, proof->proof,
                                                   w.last.root, cp->root)
                   .ok());
  }
  w.last = std::move(cp).value();
}

// The accepted events read back from the engine are the ones sent.
void CheckWritten(FuzzServer& server, const cairn::v1::AppendRequest& request,
                  const cairn::v1::AppendResponse& response) {
  const uint64_t n = static_cast<uint64_t>(request.events_size());
  FUZZ_CHECK(response.last_position() - response.first_position() + 1 == n);
  FUZZ_CHECK(response.last_version() - response.first_version() + 1 == n);
  auto page = server.store().ReadStream(request.stream(), response.first_version(),
                                        cairn::engine::Direction::kForwards, n);
  FUZZ_CHECK(page.ok() && page->events.size() == n);
  for (uint64_t i = 0; i < n; ++i) {
    const auto& sent = request.events(static_cast<int>(i));
    const auto& got = page->events[i];
    FUZZ_CHECK(got.entry.position == response.first_position() + i);
    FUZZ_CHECK(got.entry.stream_version == response.first_version() + i);
    FUZZ_CHECK(got.entry.event_type == sent.type());
    if (!sent.id().empty()) FUZZ_CHECK(got.entry.event_id == sent.id());
    if (!server.store().IsProtected(sent.type())) FUZZ_CHECK(got.data == sent.data());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cairn::fuzz::StartFuzzServer("append");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cairn::v1::AppendRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  FuzzServer& server = *cairn::fuzz::TheFuzzServer();
  const uint64_t before = server.store().tree_size();
  grpc::ClientContext context;
  FuzzServer::Prepare(&context);
  cairn::v1::AppendResponse response;
  const grpc::Status status = server.stub().Append(&context, request, &response);
  cairn::fuzz::CheckAnswered(status);
  const uint64_t after = server.store().tree_size();
  if (!status.ok() || response.idempotent_replay()) {
    FUZZ_CHECK(after == before);
  } else {
    FUZZ_CHECK(response.first_position() == before && after == response.last_position() + 1);
    CheckWritten(server, request, response);
  }
  LogWatch& w = Watch();
  if (++w.inputs % kCheckEveryInputs == 0) CheckCheckpoint(server);
  if (w.inputs % kRecycleEveryInputs == 0 || after > kTreeSizeMax) {
    server.Recycle();
    w.last = {};
  }
  return 0;
}
