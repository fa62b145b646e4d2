#include "protect/json_document.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace cairn::protect {
namespace {


// Builds a Json DOM from nlohmann's SAX events (see the header for why not the stock builder).
class Builder final : public nlohmann::json_sax<Json> {
 public:
  explicit Builder(NumberPolicy numbers) : numbers_(numbers) {}

  bool null() override { return Add(Json(nullptr)) != nullptr; }
  bool boolean(bool v) override { return Add(Json(v)) != nullptr; }
  bool number_integer(number_integer_t v) override { return Add(Json(v)) != nullptr; }
  bool number_unsigned(number_unsigned_t v) override { return Add(Json(v)) != nullptr; }
  bool number_float(number_float_t v, const string_t& text) override {
    if (!std::isfinite(v)) return Fail("a number is out of range");
    // An integer literal comes here only when it overflows 64 bits: as a double it would be
    // rounded, and the event stored with another value than it was given.
    if (numbers_ == NumberPolicy::kExact && text.find_first_of(".eE") == string_t::npos) {
      return Fail("an integer does not fit 64 bits (it would be rounded)");
    }
    // Likewise a non-zero number below the smallest double would be stored as 0.
    if (numbers_ == NumberPolicy::kExact && v == 0 &&
        text.substr(0, text.find_first_of("eE")).find_first_of("123456789") != string_t::npos) {
      return Fail("a number is too small to keep (it would be stored as 0)");
    }
    return Add(Json(v)) != nullptr;
  }
  bool string(string_t& v) override { return Add(Json(std::move(v))) != nullptr; }
  bool binary(binary_t&) override { return Fail("binary values are not JSON"); }

  bool start_object(std::size_t) override { return Open(Json::value_t::object); }
  bool key(string_t& v) override {
    if (v == kEncKey) ++enc_objects_;
    key_ = std::move(v);
    return true;
  }
  bool end_object() override {
    if (!HasNoDuplicateKeys(*stack_.back())) return Fail("an object has a duplicate key");
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return Open(Json::value_t::array); }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception&) override {
    if (error_.empty()) error_ = "invalid JSON at byte " + std::to_string(position);
    return false;
  }

  Json& root() { return root_; }
  size_t enc_objects() const { return enc_objects_; }
  const std::string& error() const { return error_; }

 private:
  const NumberPolicy numbers_;

  bool Fail(const std::string& what) {
    if (error_.empty()) error_ = what;
    return false;
  }

  bool Open(Json::value_t type) {
    if (stack_.size() >= kJsonDocumentDepthMax) {
      return Fail("JSON nested deeper than " + std::to_string(kJsonDocumentDepthMax) + " levels");
    }
    Json* container = Add(Json(type));
    if (container == nullptr) return false;
    stack_.push_back(container);
    return true;
  }

  // Places `v` in the open container (or as the root) and returns where it now lives. Pointers to
  // open containers stay valid: a parent only grows after its open child is closed.
  Json* Add(Json&& v) {
    if (stack_.empty()) {
      if (has_root_) {
        Fail("more than one JSON value");
        return nullptr;
      }
      has_root_ = true;
      root_ = std::move(v);
      return &root_;
    }
    Json* top = stack_.back();
    if (top->is_array()) {
      auto& array = *top->get_ptr<Json::array_t*>();
      array.push_back(std::move(v));
      return &array.back();
    }
    auto& object = *top->get_ptr<Json::object_t*>();
    auto& members = static_cast<Json::object_t::Container&>(object);
    members.emplace_back(std::move(key_), std::move(v));
    key_.clear();
    return &members.back().second;
  }

  static bool HasNoDuplicateKeys(const Json& object) {
    const auto& members =
        static_cast<const Json::object_t::Container&>(*object.get_ptr<const Json::object_t*>());
    const size_t n = members.size();
    if (n <= 8) {
      for (size_t i = 0; i < n; ++i) {
        for (size_t j = i + 1; j < n; ++j) {
          if (members[i].first == members[j].first) return false;
        }
      }
      return true;
    }
    std::vector<std::string_view> keys;
    keys.reserve(n);
    for (const auto& m : members) keys.emplace_back(m.first);
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(keys.begin(), keys.end()) == keys.end();
  }

  Json root_;
  bool has_root_ = false;
  std::vector<Json*> stack_;
  std::string key_;
  size_t enc_objects_ = 0;
  std::string error_;
};

}  // namespace

Result<ParsedDocument> ParseDocument(std::string_view text, NumberPolicy numbers) {
  Builder builder(numbers);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &builder, Json::input_format_t::json,
                         /*strict=*/true, /*ignore_comments=*/false);
  } catch (const std::exception&) {
    ok = false;
  }
  if (!ok) {
    return Status::InvalidArgument(builder.error().empty() ? "invalid JSON" : builder.error());
  }
  return ParsedDocument{std::move(builder.root()), builder.enc_objects()};
}

Result<std::string> DumpDocument(const Json& value) {
  try {
    return value.dump();
  } catch (const std::exception&) {
    return Status::InvalidArgument("the JSON value cannot be serialised (invalid UTF-8)");
  }
}

}  // namespace cairn::protect
