// Checking what a reader was shown of a protected event against the event's stored form.
//
// An event with protected fields is shown masked, erased or decrypted (RecordedEvent.masked,
// .erased, .revealed), so its `data` is not what data_hash covers. With the stored form
// (RecordedEvent.stored_data, which a subscription asks for with include_stored_data), a client
// checks SHA-256(stored form) against data_hash itself, and then CheckShownAgainstStored: the
// listed fields are exactly the stored form's {"$enc":…} objects, and `data` equals the stored
// form everywhere else, token for token: strings by their value, numbers by their text and kind
// (1.0 for 1, 0.10 for 0.1, or a rounded 9007199254740992.0 for 9007199254740993 is a
// difference). The one exception is the server's own canonical spelling of a stored floating
// point number (protect/json_document.h: 1.50 stored may be shown 1.5, 1E2 as 100.0), which its
// slower rewrite path writes; nobody may choose another spelling. (An event that masks a field the stored form has in clear — a rule added
// after it was written — is sent without its stored form, which would show that plaintext.) What stays unchecked is only the value shown in place of each listed
// field: a mask or erased value (fixed by the rules), or a decrypted plaintext (its key is the
// server's).
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cairn {

// The fields a reader was shown otherwise than stored (RFC 6901 pointers, RecordedEvent lists).
struct ShownFields {
  std::vector<std::string> masked;
  std::vector<std::string> erased;
  std::vector<std::string> revealed;
};

// kDataLoss with a message naming what differs (never a value) when `shown` is not the stored
// form outside exactly the listed fields as described above; both must be JSON texts, and the
// shown one may not repeat a member name in an object (a reader's parser might take the other).
Status CheckShownAgainstStored(std::string_view shown, std::string_view stored,
                               const ShownFields& fields);

}  // namespace cairn
