#include <cassert>

#include "integrity/proof.h"

namespace cairn::integrity {
namespace {

Status ProofLengthError(const char* which) {
  return Status::DataLoss(std::string(which) + " proof has the wrong number of elements");
}

// Right-shifts fn and sn together until fn's lowest bit is set or fn is 0 (RFC 9162 wording).
void ShiftUntilOddOrZero(uint64_t* fn, uint64_t* sn) {
  while ((*fn & 1) == 0 && *fn != 0) {
    *fn >>= 1;
    *sn >>= 1;
  }
}

}  // namespace

// RFC 9162 §2.1.3.2, step for step.
Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                       std::span<const Hash> proof, const Hash& root) {
  if (index >= size) {
    return Status::InvalidArgument("leaf index " + std::to_string(index) +
                                   " is not below tree size " + std::to_string(size));
  }
  uint64_t fn = index, sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return ProofLengthError("inclusion");
    if ((fn & 1) == 1 || fn == sn) {
      r = HashChildren(p, r);
      ShiftUntilOddOrZero(&fn, &sn);
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return ProofLengthError("inclusion");
  if (r != root) return Status::DataLoss("inclusion proof does not lead to the root");
  return Status::Ok();
}

// RFC 9162 §2.1.4.2, step for step; the prepended first_hash is element -1 of `proof`.
Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const Hash> proof,
                         const Hash& root1, const Hash& root2) {
  if (size1 > size2 || size1 == 0) {
    return Status::InvalidArgument("consistency needs 0 < size1 <= size2, got " +
                                   std::to_string(size1) + " and " + std::to_string(size2));
  }
  if (size1 == size2) {
    if (!proof.empty()) return ProofLengthError("consistency");
    if (root1 != root2) return Status::DataLoss("equal tree sizes with different roots");
    return Status::Ok();
  }
  if (proof.empty()) return ProofLengthError("consistency");
  const bool prepend_root1 = (size1 & (size1 - 1)) == 0;  // size1 is a power of two
  uint64_t fn = size1 - 1, sn = size2 - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = prepend_root1 ? root1 : proof[0];
  Hash sr = fr;
  for (size_t i = prepend_root1 ? 0 : 1; i < proof.size(); ++i) {
    const Hash& c = proof[i];
    if (sn == 0) return ProofLengthError("consistency");
    if ((fn & 1) == 1 || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      ShiftUntilOddOrZero(&fn, &sn);
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return ProofLengthError("consistency");
  if (fr != root1) return Status::DataLoss("consistency proof does not lead to the first root");
  if (sr != root2) return Status::DataLoss("consistency proof does not lead to the second root");
  return Status::Ok();
}

Result<Hash> HashFromWire(std::string_view bytes, std::string_view what) {
  if (bytes.size() != crypto::kSha256SizeBytes) {
    return Status::DataLoss(std::string(what) + " is " + std::to_string(bytes.size()) +
                            " bytes, not 32");
  }
  return crypto::HashFromBytes(bytes);
}

Result<std::vector<Hash>> ProofFromWire(std::span<const std::string> proof) {
  if (proof.size() > kProofElementsMax) {
    return Status::DataLoss("proof has " + std::to_string(proof.size()) + " elements; no proof in a tree of 64-bit size has more than " + std::to_string(kProofElementsMax));
  }
  std::vector<Hash> out;
  out.reserve(proof.size());
  for (const std::string& element : proof) {
    CAIRN_ASSIGN_OR_RETURN(Hash h, HashFromWire(element, "proof element"));
    out.push_back(h);
  }
  return out;
}

Status VerifyInclusion(uint64_t index, uint64_t size, std::string_view leaf_hash,
                       std::span<const std::string> proof, std::string_view root) {
  CAIRN_ASSIGN_OR_RETURN(Hash leaf, HashFromWire(leaf_hash, "leaf hash"));
  CAIRN_ASSIGN_OR_RETURN(Hash root_hash, HashFromWire(root, "root"));
  CAIRN_ASSIGN_OR_RETURN(std::vector<Hash> path, ProofFromWire(proof));
  return VerifyInclusion(index, size, leaf, path, root_hash);
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const std::string> proof,
                         std::string_view root1, std::string_view root2) {
  // Equal sizes are decided on the given bytes alone, before any hash is parsed: an empty proof
  // and equal roots. RFC 9162 2.1.4.2 is written for first < second; this is what the reference
  // implementation (transparency-dev/merkle) does, and the upstream vectors test exactly this
  // (roots of 12 bytes included). Callers with untrusted roots use the Hash overload.
  if (size1 == size2 && size1 != 0) {
    if (!proof.empty()) return Status::DataLoss("consistency proof for equal sizes must be empty");
    if (root1 != root2) return Status::DataLoss("equal tree sizes with different roots");
    return Status::Ok();
  }
  CAIRN_ASSIGN_OR_RETURN(Hash first, HashFromWire(root1, "first root"));
  CAIRN_ASSIGN_OR_RETURN(Hash second, HashFromWire(root2, "second root"));
  CAIRN_ASSIGN_OR_RETURN(std::vector<Hash> path, ProofFromWire(proof));
  return VerifyConsistency(size1, size2, path, first, second);
}

}  // namespace cairn::integrity
