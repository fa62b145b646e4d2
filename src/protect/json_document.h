// Strict parsing of the JSON documents protect/ rewrites (event data of protected event types,
// rule masks, decrypted field values).
//
// The document type is nlohmann::ordered_json, so a protected event keeps the key order its
// client wrote. The parser is a SAX builder of our own rather than nlohmann's DOM parser:
//  - nesting deeper than kJsonDocumentDepthMax is an error (dump() and the pointer code recurse);
//  - a duplicate key in any object is an error: two "email" members could otherwise mean one thing
//    to this parser and another to the next (and only one of them would be encrypted);
//  - members are appended without nlohmann's linear duplicate search (ordered_map::emplace is
//    O(n) per key, O(n^2) per object); duplicates are found once per object by sorting;
//  - numbers that do not fit a double (1e999) are an error instead of turning into null;
//  - every object member named "$enc" is counted (ParsedDocument::enc_objects), so appends can
//    reject client-made ciphertext objects and reads know whether any exist, at no extra cost.
// Re-serialisation caveats (documented for callers): the document is dumped compactly, floating
// point numbers are written in nlohmann's shortest round-trip form (1.10 -> 1.1, 1E2 -> 100.0),
// and integers beyond 64 bits become doubles.
// No exception escapes. Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace cairn::protect {

using Json = nlohmann::ordered_json;

inline constexpr size_t kJsonDocumentDepthMax = 128;
// The member that marks an encrypted field's stored form: {"$enc": "..."} (DESIGN.md).
inline constexpr std::string_view kEncKey = "$enc";

// How integers beyond 64 bits are read. nlohmann holds them as doubles, so a document written
// back from the DOM would carry a rounded value. Appends refuse them (kExact): the stored form
// never differs from what the writer sent in value. Reads take them as parsed (kAsParsed), so that
// events stored before the rule still read.
enum class NumberPolicy : uint8_t { kAsParsed, kExact };

struct ParsedDocument {
  Json value;
  size_t enc_objects = 0;  // objects (at any depth) with a member named "$enc"
};

// kInvalidArgument (the message names the problem and byte offset, never content) on a syntax
// error, invalid UTF-8, a duplicate key, excessive depth, an out-of-range number, or (kExact) an
// integer beyond 64 bits.
Result<ParsedDocument> ParseDocument(std::string_view text,
                                     NumberPolicy numbers = NumberPolicy::kAsParsed);

// Compact text of `value`; kInvalidArgument if it cannot be serialised (never happens for values
// that ParseDocument produced). Never throws.
Result<std::string> DumpDocument(const Json& value);

}  // namespace cairn::protect
