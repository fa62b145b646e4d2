// JsonScan: a strict, single-pass index of a JSON document — the fast path of protect/ (no DOM,
// no re-serialisation: protected values are found by their byte spans and spliced).
//
// Scan(text) either vouches for `text` or declines (returns false). It vouches only for documents
// that ParseDocument (json_document.h, the reference) accepts with the same meaning, and declines
// everything else: every syntax error, invalid UTF-8 (the same rules as nlohmann's lexer: no
// overlong forms, no encoded surrogates, at most U+10FFFF), a control character in a string, a
// bad escape or a lone surrogate escape, a duplicate key, nesting deeper than
// kJsonDocumentDepthMax, more than kScanNodesMax values, a leading byte-order mark, a member name
// with an escape (names are compared as raw bytes), and any number whose finiteness it cannot
// settle cheaply (an exponent that from_chars cannot parse), and under NumberPolicy::kExact
// integers beyond 64 bits (which ParseDocument then refuses rather than round). A caller that gets false uses
// ParseDocument, which decides and words the error: strictness is never weaker than the DOM path.
//
// Nodes are the document's values in document order (pre-order; node 0 is the root), each with
// its byte span and, for object members, the raw bytes of its name. `compact` marks values whose
// bytes are exactly what DumpDocument writes for them (a string without escapes, an integer of at
// most 18 digits other than -0, true, false, null): their text is the plaintext protect/ encrypts.
//
// Thread safety: one JsonScan per thread; a scan refers to the text it was given, which must
// outlive its use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protect/json_document.h"
#include "protect/json_pointer.h"

namespace cairn::protect {

enum class JsonKind : uint8_t { kNull, kBool, kNumber, kString, kObject, kArray };

inline constexpr uint32_t kNoScanNode = UINT32_MAX;
inline constexpr size_t kScanNodesMax = size_t{1} << 16;
inline constexpr size_t kScanTextSizeBytesMax = size_t{1} << 30;
inline constexpr size_t kScanNodesKept = 4096;  // capacity kept by ShrinkIfLarge

struct ScanNode {
  uint32_t begin = 0;  // first byte of the value
  uint32_t end = 0;    // one past its last byte
  uint32_t key_begin = 0;  // member name without quotes (raw bytes); empty for non-members
  uint32_t key_end = 0;
  uint32_t parent = kNoScanNode;
  uint32_t first_child = kNoScanNode;
  uint32_t next_sibling = kNoScanNode;
  JsonKind kind = JsonKind::kNull;
  bool compact = false;         // see the header comment
  bool has_enc_member = false;  // an object with a member named "$enc"
};

class JsonScan {
 public:
  // True when the scanner vouches for `text` (see above); false: use ParseDocument.
  bool Scan(std::string_view text, NumberPolicy numbers = NumberPolicy::kAsParsed);

  const std::vector<ScanNode>& nodes() const { return nodes_; }
  std::string_view Text(uint32_t node) const;
  std::string_view Key(uint32_t node) const;
  // Objects with a "$enc" member, anywhere (as ParsedDocument::enc_objects).
  size_t enc_objects() const { return enc_objects_; }

  // Frees the buffers when they grew past a small document's needs.
  void ShrinkIfLarge();

  // The node `pointer` names, or kNoScanNode (resolution as json_pointer.h's Resolve).
  uint32_t Resolve(const JsonPointer& pointer) const;
  // When `pointer` does not resolve, whether a value blocks its path (as json_pointer.h's).
  bool PathBlocked(const JsonPointer& pointer) const;
  // Same, but kNoScanNode when the path runs through an object with a "$enc" member.
  uint32_t ResolveOutsideEnc(const JsonPointer& pointer) const;
  // Every object with a "$enc" member that is not inside another one, in document order.
  std::vector<uint32_t> EncObjects() const;
  // The RFC 6901 text of `node`'s location.
  std::string PointerOf(uint32_t node) const;

 private:
  struct Frame {
    uint32_t node;
    uint32_t last_child;
    size_t keys_begin;  // this object's member names in keys_
  };
  uint32_t ResolveImpl(const JsonPointer& pointer, bool stop_at_enc, bool* blocked = nullptr) const;
  bool AddNode(JsonKind kind, uint32_t begin);
  bool CloseObject(uint32_t end);

  std::string_view text_;
  std::vector<ScanNode> nodes_;
  std::vector<Frame> stack_;
  std::vector<std::string_view> keys_;
  std::vector<std::string_view> sorted_keys_;  // scratch for large objects
  uint32_t pending_key_begin_ = 0;
  uint32_t pending_key_end_ = 0;
  size_t enc_objects_ = 0;
};

}  // namespace cairn::protect
