#include "integrity/witness.h"

#include <cassert>
#include <cstring>

#include "common/bytes.h"
#include "common/decimal.h"
#include "integrity/checkpoint.h"
#include "integrity/cosignature.h"
#include "integrity/proof.h"

namespace cairn::integrity {
namespace {

constexpr std::string_view kOldPrefix = "old ";

WitnessAnswer Answer(int status, std::string body) {
  WitnessAnswer answer;
  answer.http_status = status;
  answer.body = std::move(body);
  return answer;
}

WitnessAnswer SizeConflict(uint64_t size) {
  WitnessAnswer answer = Answer(409, std::to_string(size) + "\n");
  answer.content_type = kTlogSizeContentType;
  return answer;
}

// The next line of `body` from `*pos` (without its '\n'); nullopt when no '\n' ends it.
std::optional<std::string_view> NextLine(std::string_view body, size_t* pos) {
  const size_t end = body.find('\n', *pos);
  if (end == std::string_view::npos) return std::nullopt;
  const std::string_view line = body.substr(*pos, end - *pos);
  *pos = end + 1;
  return line;
}

// The checkpoint under the first of `log_keys` that verifies it; nullopt when none does.
std::optional<Checkpoint> VerifiedByAny(std::string_view note,
                                        std::span<const NoteVerifier> log_keys) {
  for (const NoteVerifier& key : log_keys) {
    Result<Checkpoint> checkpoint = VerifyCheckpoint(note, key);
    if (checkpoint.ok()) return std::move(checkpoint).value();
  }
  return std::nullopt;
}

}  // namespace

std::string FormatAddCheckpoint(const AddCheckpointRequest& request) {
  assert(request.proof.size() <= kWitnessProofLinesMax);
  std::string body(kOldPrefix);
  body += std::to_string(request.old_size);
  body += '\n';
  for (const Hash& hash : request.proof) {
    AppendBase64(hash, &body);
    body += '\n';
  }
  body += '\n';
  body += request.checkpoint;
  return body;
}

Result<AddCheckpointRequest> ParseAddCheckpoint(std::string_view body) {
  if (body.size() > kAddCheckpointBodyBytesMax) {
    return Status::InvalidArgument("add-checkpoint body is too large");
  }
  size_t pos = 0;
  std::optional<std::string_view> line = NextLine(body, &pos);
  if (!line || line->substr(0, kOldPrefix.size()) != kOldPrefix) {
    return Status::InvalidArgument("add-checkpoint body must start with an 'old <size>' line");
  }
  AddCheckpointRequest request;
  const std::optional<uint64_t> old_size = ParseDecimal(line->substr(kOldPrefix.size()));
  if (!old_size) return Status::InvalidArgument("the old size is not a decimal number");
  request.old_size = *old_size;
  for (;;) {
    line = NextLine(body, &pos);
    if (!line) return Status::InvalidArgument("add-checkpoint body has no empty line");
    if (line->empty()) break;
    if (request.proof.size() == kWitnessProofLinesMax) {
      return Status::InvalidArgument("more than 63 consistency proof lines");
    }
    const std::optional<std::string> bytes = Base64Decode(*line);
    if (!bytes || bytes->size() != crypto::kSha256SizeBytes) {
      return Status::InvalidArgument("a consistency proof line is not one base64 hash");
    }
    Hash hash{};
    std::memcpy(hash.data(), bytes->data(), hash.size());
    request.proof.push_back(hash);
  }
  request.checkpoint.assign(body.substr(pos));
  if (request.checkpoint.empty()) return Status::InvalidArgument("add-checkpoint has no checkpoint");
  return request;
}

Result<std::string> CheckpointNoteOrigin(std::string_view note) {
  const size_t end = note.find('\n');
  if (end == 0 || end == std::string_view::npos) {
    return Status::InvalidArgument("the checkpoint has no origin line");
  }
  return std::string(note.substr(0, end));
}

WitnessAnswer WitnessAddCheckpoint(const AddCheckpointRequest& request,
                                   std::span<const NoteVerifier> log_keys,
                                   const std::optional<WitnessedTree>& last,
                                   const NoteSigner& cosigner, uint64_t now_unix_s) {
  assert(!log_keys.empty());
  assert(request.proof.size() <= kWitnessProofLinesMax);
  const std::optional<Checkpoint> checkpoint = VerifiedByAny(request.checkpoint, log_keys);
  if (!checkpoint) {
    return Answer(403, "the checkpoint carries no valid signature by a key trusted for its origin\n");
  }
  if (request.old_size > checkpoint->size) {
    return Answer(400, "the old size is larger than the checkpoint's size\n");
  }
  const WitnessedTree current = last.value_or(WitnessedTree{0, EmptyRoot()});
  if (request.old_size != current.size) return SizeConflict(current.size);
  if (request.old_size == checkpoint->size) {
    if (checkpoint->root != current.root) {  // signed, same size, another tree: a fork
      WitnessAnswer conflict = SizeConflict(current.size);
      conflict.fork = true;
      return conflict;
    }
    if (!request.proof.empty()) return Answer(422, "a proof between equal sizes must be empty\n");
  } else if (request.old_size == 0) {
    if (!request.proof.empty()) return Answer(422, "a proof from size 0 must be empty\n");
  } else if (!VerifyConsistency(request.old_size, checkpoint->size, request.proof, current.root,
                                checkpoint->root)
                  .ok()) {
    // Not evidence of anything: the proof is not signed, anyone can send a bad one.
    return Answer(422, "the consistency proof does not verify\n");
  }
  Result<std::string> cosigned = AddCosignature(request.checkpoint, cosigner, now_unix_s);
  if (!cosigned.ok()) return Answer(400, "the checkpoint cannot be cosigned\n");
  WitnessAnswer answer = Answer(200, cosigned->substr(request.checkpoint.size()));
  answer.next = WitnessedTree{checkpoint->size, checkpoint->root};
  return answer;
}

Result<uint64_t> ParseTlogSize(std::string_view body) {
  if (body.empty() || body.back() != '\n') {
    return Status::InvalidArgument("a text/x.tlog.size body must be one line");
  }
  const std::optional<uint64_t> size = ParseDecimal(body.substr(0, body.size() - 1));
  if (!size) return Status::InvalidArgument("a text/x.tlog.size body must be a decimal size");
  return *size;
}

}  // namespace cairn::integrity
