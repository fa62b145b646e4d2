// C2SP tlog-witness (https://c2sp.org/tlog-witness): the add-checkpoint request a log sends to a
// witness, and the checks a witness makes before it cosigns (integrity/cosignature.h).
//
// Request body: "old <size>\n", 0..63 lines of one base64 hash each (the RFC 6962 consistency
// proof from the old size to the checkpoint's), an empty line, then the signed checkpoint.
// The witness answers (WitnessAddCheckpoint):
//   400 malformed body, old size above the checkpoint's size
//   404 the checkpoint's origin is not a log the witness follows (the caller decides: it looks
//       the origin up with CheckpointNoteOrigin before calling)
//   403 no signature by a key the witness trusts for that origin verifies
//   409 the old size is not the size the witness last cosigned (body "<size>\n", content type
//       text/x.tlog.size), or the same size with another root
//   422 the consistency proof does not verify
//   200 its cosignature line(s); the caller must persist `next` before it answers (unless it
//       equals what it holds: a checkpoint cosigned again).
//
// Errors: the parsing side kInvalidArgument. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "integrity/entry.h"
#include "integrity/note.h"

namespace cairn::integrity {

inline constexpr size_t kWitnessProofLinesMax = 63;
// Old size line, 63 proof lines and a checkpoint with a few signatures fit many times over.
inline constexpr size_t kAddCheckpointBodyBytesMax = 64 * 1024;
inline constexpr char kTlogSizeContentType[] = "text/x.tlog.size";

struct AddCheckpointRequest {
  uint64_t old_size = 0;
  std::vector<Hash> proof;  // at most kWitnessProofLinesMax
  std::string checkpoint;   // the signed note, as sent
};

// Requires proof.size() <= kWitnessProofLinesMax.
std::string FormatAddCheckpoint(const AddCheckpointRequest& request);
Result<AddCheckpointRequest> ParseAddCheckpoint(std::string_view body);

// The first line of a signed checkpoint note (its origin); kInvalidArgument if there is none.
Result<std::string> CheckpointNoteOrigin(std::string_view note);

// What a witness last cosigned for one log.
struct WitnessedTree {
  uint64_t size = 0;
  Hash root{};
  bool operator==(const WitnessedTree&) const = default;
};

struct WitnessAnswer {
  int http_status = 500;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;                    // 200: the cosignature line; else the reason or the size
  std::optional<WitnessedTree> next;   // 200 only: what to persist before answering
  // 409 for a checkpoint signed by the log, of the size the witness holds, with another root:
  // with the kept one, evidence that the log forked (a 422's proof is unsigned: anyone can send
  // a bad one, so it is evidence of nothing).
  bool fork = false;
};

// The witness's checks for a request whose origin it follows. `log_keys`: the keys it trusts
// for that origin (at least one); `last`: what it last cosigned for it (nullopt: never).
WitnessAnswer WitnessAddCheckpoint(const AddCheckpointRequest& request,
                                   std::span<const NoteVerifier> log_keys,
                                   const std::optional<WitnessedTree>& last,
                                   const NoteSigner& cosigner, uint64_t now_unix_s);

// The log's side of a 409: the witness's size from a text/x.tlog.size body ("<decimal>\n").
Result<uint64_t> ParseTlogSize(std::string_view body);

}  // namespace cairn::integrity
