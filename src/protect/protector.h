// Field-level protection of personal data inside JSON events (DESIGN.md, Keys and data
// protection). The caller (the append and read paths) looks the event type up with
// RuleSet::Find and calls these only for event types that have a rule: other events are never
// parsed.
//
// Two paths, one behaviour. The fast path indexes the text once (json_scan.h) and splices the
// stored forms, masks, erased values or plaintexts into the original bytes: the rest of the
// document is kept byte for byte (whitespace, escapes and number spellings included). Whenever
// the scanner declines a document (anything it does not vouch for, including every invalid one),
// or a subject or stored-field member has escapes, or a protected number is not in compact form
// and cannot be canonicalised alone, the DOM path (json_document.h: parse, edit, dump compactly)
// does the work and words the errors. Both write the same stored form and the same plaintext (the
// value's compact JSON text as DumpDocument writes it), so either reads what the other wrote.
//
// ProtectEvent (append):
//  - parses the data strictly (json_document.h); any object with a "$enc" member anywhere in the
//    data is rejected (kInvalidArgument): clients cannot inject ciphertext objects;
//  - resolves the subject: rule pointer -> a non-empty JSON string, or an integer (its decimal
//    text: 42 and "42" name the same subject), at most keys::kSubjectIdSizeBytesMax bytes;
//    "$subject" -> the append's subject attribute, non-empty, same bound. Otherwise
//    kInvalidArgument "event type X needs a subject: /customerId is missing" (names the pointer,
//    never the value). The subject value stays in the clear: it is the key's handle;
//  - fields absent from the data are skipped (optional personal fields are fine); when none is
//    present the data is returned unchanged and no key is created;
//  - otherwise KeyForWrite(subject) (errors propagate: kUnavailable when the KMS is down — the
//    caller must write nothing of the batch) and each present field's value becomes the stored
//    form of field_cipher.h (plaintext = the value's compact JSON text, AAD as documented there).
//  - kInvalidArgument if event_id16 is not 16 bytes.
//
// RevealEvent (read): the protected values found in the stored data are
//  - every "$enc" object at one of the rule's field pointers, and — when the document holds more
//    "$enc" objects than that (the rule changed since the event was written) — every "$enc"
//    object anywhere in the document (a bounded walk; its AAD pointer is where it is found, which
//    is where it was sealed). Mask and erased values come from the current rule.
//  - for each, KeyForRead(kid) (one lookup per distinct kid per event):
//      kNotFound (key destroyed by `forget`) -> rule.erased, pointer listed in `erased` — for
//        every reader, with or without read.pii;
//      other errors (kUnavailable, ...) -> returned (fail closed, for every reader);
//      found -> the field is authenticated and decrypted. A GCM failure (moved from another
//        stream/event/pointer, kid relabelled, tampered) or a malformed stored form -> kDataLoss
//        naming stream, event and pointer; never a value. With read.pii the plaintext replaces the
//        object; without it the mask does (default: "***" for a string, null otherwise — which is
//        why readers without read.pii also need the key: the default mask depends on the
//        plaintext's type), pointer listed in `masked`.
//  - a plaintext value at a rule pointer (written before the rule existed): shown to read.pii
//    readers as is, masked (listed, and counted in
//    ReadView::masked_in_clear) for the others.
// Limitation: events of an event type whose rule was removed are not revealed at all (the caller
// does not call RevealEvent); their readers see the stored objects.
// Plaintext copies made here are wiped when dropped where the code holds them as strings
// (crypto::Cleanse); nlohmann's DOM nodes (the DOM path) are not wiped.
//
// `ciphers` (optional) lends AES-GCM contexts across events (cipher_cache.h); the key source is
// still asked for the key of every event.
//
// Thread safety: reentrant; the SubjectKeySource must be thread-safe (it is, by contract).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "keys/subject_key_source.h"
#include "protect/cipher_cache.h"
#include "protect/rules.h"

namespace cairn::protect {

Result<std::string> ProtectEvent(const Rule& rule, std::string_view stream_id,
                                 std::string_view event_id16, std::string_view data_json,
                                 std::string_view append_subject,
                                 keys::SubjectKeySource& keys, CipherCache* ciphers = nullptr);

struct ReadView {
  std::string data_json;
  std::vector<std::string> masked;  // pointers (RFC 6901 text), document order of discovery
  std::vector<std::string> erased;
  std::vector<std::string> revealed;  // ciphertext decrypted for a read.pii reader
  // How many of `masked` were stored in clear (written before a rule covered them): the stored
  // form shows their plaintext. 0 means every listed field is a "$enc" object in the stored form.
  size_t masked_in_clear = 0;
};

Result<ReadView> RevealEvent(const Rule& rule, std::string_view stream_id,
                             std::string_view event_id16, std::string_view stored_data_json,
                             bool may_read_pii, keys::SubjectKeySource& keys,
                             CipherCache* ciphers = nullptr);

}  // namespace cairn::protect
