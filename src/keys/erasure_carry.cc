#include "keys/erasure_carry.h"

#include <cassert>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "keys/subject_keys.h"

namespace cairn::keys {
namespace {

// Destroys `names` in batches the store accepts.
Status DestroyAll(storage::LogStore& store, const std::vector<std::string>& names) {
  constexpr size_t kBatch = storage::LogStore::kDestroyBatchNamesMax;
  for (size_t i = 0; i < names.size(); i += kBatch) {
    const size_t n = std::min(kBatch, names.size() - i);
    CAIRN_RETURN_IF_ERROR(
        store.DestroyKeyMaterials(std::span<const std::string>(names.data() + i, n)).status());
  }
  return Status::Ok();
}

}  // namespace

Result<CarriedErasures> CarryErasuresForward(storage::LogStore& replaced, storage::LogStore& restored) {
  const std::string key_prefix(SubjectKeys::kKeyNamePrefix);
  const std::string use_prefix(SubjectKeys::kUseNamePrefix);
  const std::string index_prefix(SubjectKeys::kIndexNamePrefix);
  std::unordered_set<std::string> kept;  // kids the replaced store still holds
  CAIRN_RETURN_IF_ERROR(replaced.ScanKeyMaterial(key_prefix, [&](std::string_view name, std::string_view) {
    kept.emplace(name.substr(key_prefix.size()));
    return true;
  }));
  std::unordered_set<std::string> gone;  // kids of the restored store destroyed since the backup
  std::vector<std::string> names;
  CAIRN_RETURN_IF_ERROR(restored.ScanKeyMaterial(key_prefix, [&](std::string_view name, std::string_view) {
    std::string kid(name.substr(key_prefix.size()));
    if (kept.count(kid)) return true;
    names.emplace_back(name);
    names.push_back(use_prefix + kid);  // destroying a name that is absent is a no-op
    gone.insert(std::move(kid));
    return true;
  }));
  CarriedErasures out;
  out.versions_destroyed = gone.size();
  // Indexes that list only destroyed versions go too (a subject forgotten since the backup, or
  // forgotten and made again: the new versions are not in the restored store).
  Status scanned = restored.ScanKeyMaterial(index_prefix, [&](std::string_view name, std::string_view value) {
    auto kids = SubjectKeys::IndexedKids(name, value);
    if (!kids.ok()) return true;  // damage is the verifier's business; nothing is destroyed for it
    bool all_gone = !kids->empty();
    for (const std::string& kid : *kids) all_gone = all_gone && gone.count(kid) > 0;
    if (all_gone) {
      names.emplace_back(name);
      ++out.subjects_erased;
    }
    return true;
  });
  CAIRN_RETURN_IF_ERROR(scanned);
  CAIRN_RETURN_IF_ERROR(DestroyAll(restored, names));
  return out;
}

}  // namespace cairn::keys
