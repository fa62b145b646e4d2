#include "keys/erasure_carry.h"

#include <algorithm>
#include <cassert>
#include <span>
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
  CarriedErasures out;
  std::vector<std::string> names;
  auto destroy_kid = [&](const std::string& kid) {
    names.push_back(key_prefix + kid);
    names.push_back(use_prefix + kid);  // destroying a name that is absent is a no-op
    ++out.versions_destroyed;
  };
  // Per subject, all or nothing, as forget is: a subject none of whose versions the replaced
  // store holds was forgotten (its index goes too, also one whose versions exist nowhere); one
  // that still holds some of them was not, and nothing of it is touched.
  std::unordered_set<std::string> listed;
  CAIRN_RETURN_IF_ERROR(restored.ScanKeyMaterial(index_prefix, [&](std::string_view name, std::string_view value) {
    auto kids = SubjectKeys::IndexedKids(name, value);
    if (!kids.ok()) return true;  // damage is the verifier's business; nothing is destroyed for it
    listed.insert(kids->begin(), kids->end());
    if (std::any_of(kids->begin(), kids->end(), [&](const std::string& k) { return kept.count(k) > 0; })) {
      return true;
    }
    for (const std::string& kid : *kids) destroy_kid(kid);
    names.emplace_back(name);
    ++out.subjects_erased;
    return true;
  }));
  // Versions no index lists (a creation or rotation cut short) that the replaced store no longer
  // holds either.
  CAIRN_RETURN_IF_ERROR(restored.ScanKeyMaterial(key_prefix, [&](std::string_view name, std::string_view) {
    std::string kid(name.substr(key_prefix.size()));
    if (!listed.count(kid) && !kept.count(kid)) destroy_kid(kid);
    return true;
  }));
  CAIRN_RETURN_IF_ERROR(DestroyAll(restored, names));
  return out;
}

}  // namespace cairn::keys
