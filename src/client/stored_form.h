// Checking what a reader was shown of a protected event against the event's stored form.
//
// An event with protected fields is shown masked, erased or decrypted (RecordedEvent.masked,
// .erased, .revealed), so its `data` is not what data_hash covers. With the stored form
// (RecordedEvent.stored_data, which a subscription asks for with include_stored_data), a client
// checks SHA-256(stored form) against data_hash itself, and then CheckShownAgainstStored: the
// listed fields are exactly the stored form's {"$enc":…} objects, and `data` equals the stored
// form everywhere else. What stays unchecked is only the value shown in place of each listed
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

// kDataLoss with a message naming what differs (never a value) when `shown` is not the stored
// form outside exactly `listed` (RFC 6901 pointers); both must be JSON texts.
Status CheckShownAgainstStored(std::string_view shown, std::string_view stored,
                               const std::vector<std::string>& listed);

}  // namespace cairn
