// RFC 9162 inclusion and consistency proofs: generation from stored full subtrees, and the
// pure verification algorithms of §2.1.3.2 and §2.1.4.2.
//
// Generation reads only hashes of full subtrees (NodeId) through a NodeReader. Every proof costs
// exactly one ReadNodes call with O(log n) ids (at most 2*ceil(log2 n) + 2 for a proof; a bundle
// adds the leaf and the popcount(n) root nodes, about 3*log2 n + 1 in all), never a scan: each
// proof element is either one aligned full subtree, or the tree's right-edge partial range,
// which is the right-to-left fold of at most log2(n) full subtrees. Errors from the reader are
// returned annotated (kNotFound when a node was never stored).
//
// Verification needs no reader. It fails with kInvalidArgument for impossible parameters
// (index >= size, size1 > size2, size1 == 0) and kDataLoss when the proof does not prove the
// claim, including a proof with missing, extra or malformed (not 32-byte) elements.
//
// Thread safety: the functions are thread-safe if the NodeReader is.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "integrity/entry.h"
#include "integrity/merkle.h"

namespace cairn::integrity {

// Source of stored full-subtree hashes (leaf hashes are level 0).
class NodeReader {
 public:
  virtual ~NodeReader() = default;
  // Replaces *hashes with one hash per id, hashes[i] for ids[i], in one batch (one storage
  // round trip). kNotFound if any id is missing.
  virtual Status ReadNodes(std::span<const NodeId> ids, std::vector<Hash>* hashes) = 0;
};

// Audit path of leaf `index` in the tree of `size` leaves, leaf to root. Requires index < size.
Result<std::vector<Hash>> InclusionProof(NodeReader& reader, uint64_t index, uint64_t size);
// Proof that the tree of size1 is a prefix of the tree of size2. Requires 0 < size1 <= size2;
// size1 == size2 gives an empty proof.
Result<std::vector<Hash>> ConsistencyProof(NodeReader& reader, uint64_t size1, uint64_t size2);
// Root of the tree of `size` leaves (EmptyRoot() for 0, without a read).
Result<Hash> RootAt(NodeReader& reader, uint64_t size);

// A proof together with the hashes it is checked against, all from ONE ReadNodes call (what a
// server answers a client with: the leaf hash, the path and the root of that tree size).
struct InclusionBundle {
  Hash leaf_hash{};
  std::vector<Hash> proof;
  Hash root{};
};
Result<InclusionBundle> InclusionProofBundle(NodeReader& reader, uint64_t index, uint64_t size);
struct ConsistencyBundle {
  Hash root1{}, root2{};
  std::vector<Hash> proof;
};
Result<ConsistencyBundle> ConsistencyProofBundle(NodeReader& reader, uint64_t size1,
                                                 uint64_t size2);

Status VerifyInclusion(uint64_t index, uint64_t size, const Hash& leaf_hash,
                       std::span<const Hash> proof, const Hash& root);
// size1 == size2 requires an empty proof and root1 == root2. size1 == 0 is rejected: RFC 9162
// defines consistency proofs for 0 < size1, and a check against the empty tree proves nothing.
Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const Hash> proof,
                         const Hash& root1, const Hash& root2);

// A proof of a tree of u64 size has at most 64 (inclusion) or 2 * 64 (consistency) elements.
inline constexpr size_t kProofElementsMax = 2 * 64;

// The same checks on raw byte strings as they arrive from the wire or JSON: any hash that is
// not exactly 32 bytes, and a proof of more than kProofElementsMax elements, are rejected with
// kDataLoss before the proof is evaluated. One exception, as the reference implementation
// and the upstream vectors have it (RFC 9162 2.1.4.2 itself is written for first < second): a consistency check of equal sizes compares the two roots' bytes
// as given (an empty proof and equal bytes pass, whatever their length). A caller whose roots
// come from an untrusted source uses the Hash overload or HashFromWire first.
Result<Hash> HashFromWire(std::string_view bytes, std::string_view what);
Result<std::vector<Hash>> ProofFromWire(std::span<const std::string> proof);
Status VerifyInclusion(uint64_t index, uint64_t size, std::string_view leaf_hash,
                       std::span<const std::string> proof, std::string_view root);
Status VerifyConsistency(uint64_t size1, uint64_t size2, std::span<const std::string> proof,
                         std::string_view root1, std::string_view root2);

}  // namespace cairn::integrity
