// DecodeEntry over hostile bytes: never crashes; whatever it accepts is a valid entry that
// re-encodes to exactly the same bytes (the v1 encoding is canonical, DESIGN.md).
#include "fuzz_util.h"
#include "integrity/entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = cairn::fuzz::AsView(data, size);
  cairn::integrity::Entry entry;
  if (!cairn::integrity::DecodeEntry(bytes, &entry).ok()) return 0;
  FUZZ_CHECK(cairn::integrity::ValidateEntry(entry).ok());
  FUZZ_CHECK(cairn::integrity::EncodeEntry(entry) == bytes);
  FUZZ_CHECK(cairn::integrity::EncodedEntrySizeBytes(entry) == size);
  return 0;
}
