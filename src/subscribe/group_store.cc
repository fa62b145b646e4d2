#include "subscribe/group_store.h"

#include <nlohmann/json.hpp>

namespace cairn::subscribe {
namespace {

constexpr char kIndexKey[] = "group/index";

std::string DefKey(const std::string& name) { return "group/def/" + name; }
std::string PositionKey(const std::string& name) { return "group/state/" + name; }

}  // namespace

std::string EncodeGroupPosition(const GroupPosition& p) {
  nlohmann::json j{{"v", 1},
                   {"done_below", p.done_below},
                   {"done_above", p.done_above},
                   {"replay_next", p.replay_next},
                   {"replay_end", p.replay_end}};
  return j.dump();
}

Result<GroupPosition> DecodeGroupPosition(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  // A "v" of another JSON type is unreadable too, not a type_error escaping to the caller.
  if (!j.is_object() || !j.contains("v") || j["v"] != 1) {
    return Status::DataLoss("stored group position is not readable");
  }
  try {
    GroupPosition p;
    p.done_below = j.at("done_below").get<uint64_t>();
    p.done_above = j.at("done_above").get<std::vector<uint64_t>>();
    p.replay_next = j.at("replay_next").get<uint64_t>();
    p.replay_end = j.at("replay_end").get<uint64_t>();
    for (uint64_t above : p.done_above) {
      if (above <= p.done_below) return Status::DataLoss("stored group position is inconsistent");
    }
    return p;
  } catch (const nlohmann::json::exception&) {
    return Status::DataLoss("stored group position is not readable");
  }
}

Result<std::vector<std::string>> GroupStore::LoadNames() {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> text, store_->ReadComponentState(kIndexKey));
  if (!text || text->empty()) return std::vector<std::string>{};
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return Status::DataLoss("stored group index is not readable");
  std::vector<std::string> names;
  for (const auto& name : j) {
    if (!name.is_string()) return Status::DataLoss("stored group index is not readable");
    names.push_back(name.get<std::string>());
  }
  return names;
}

Status GroupStore::SaveNames(const std::vector<std::string>& names) {
  return store_->PutComponentState(kIndexKey, nlohmann::json(names).dump());
}

Result<GroupSettings> GroupStore::LoadSettings(const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> text, store_->ReadComponentState(DefKey(name)));
  if (!text || text->empty()) return Status::NotFound("group '" + name + "' does not exist");
  return DecodeGroupSettings(*text);
}

Status GroupStore::SaveSettings(const GroupSettings& settings) {
  return store_->PutComponentState(DefKey(settings.name), EncodeGroupSettings(settings));
}

Result<std::optional<GroupPosition>> GroupStore::LoadPosition(const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> text,
                         store_->ReadComponentState(PositionKey(name)));
  if (!text || text->empty()) return std::optional<GroupPosition>{};
  CAIRN_ASSIGN_OR_RETURN(GroupPosition position, DecodeGroupPosition(*text));
  return std::optional<GroupPosition>(std::move(position));
}

Status GroupStore::SavePosition(const std::string& name, const GroupPosition& position) {
  return store_->PutComponentState(PositionKey(name), EncodeGroupPosition(position));
}

Status GroupStore::Remove(const std::string& name) {
  CAIRN_RETURN_IF_ERROR(store_->PutComponentState(DefKey(name), ""));
  return store_->PutComponentState(PositionKey(name), "");
}

}  // namespace cairn::subscribe
