#include "protect/json_pointer.h"

namespace cairn::protect {

Result<JsonPointer> JsonPointer::Parse(std::string_view text) {
  JsonPointer pointer;
  if (text.empty()) return pointer;
  if (text.size() > kJsonPointerSizeBytesMax) {
    return Status::InvalidArgument("JSON pointer longer than " +
                                   std::to_string(kJsonPointerSizeBytesMax) + " bytes");
  }
  if (text[0] != '/') return Status::InvalidArgument("JSON pointer must start with '/'");
  std::string token;
  for (size_t i = 1; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '/') {
      if (pointer.tokens_.size() >= kJsonPointerTokensMax) {
        return Status::InvalidArgument("JSON pointer has more than " +
                                       std::to_string(kJsonPointerTokensMax) + " tokens");
      }
      pointer.tokens_.push_back(std::move(token));
      token.clear();
      continue;
    }
    if (text[i] == '~') {
      if (i + 1 >= text.size() || (text[i + 1] != '0' && text[i + 1] != '1')) {
        return Status::InvalidArgument("JSON pointer has a '~' not followed by 0 or 1 at offset " +
                                       std::to_string(i));
      }
      token.push_back(text[i + 1] == '0' ? '~' : '/');
      ++i;
      continue;
    }
    token.push_back(text[i]);
  }
  pointer.text_ = std::string(text);
  return pointer;
}

std::string JsonPointer::EscapeToken(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string JsonPointer::Format(const std::vector<std::string>& tokens) {
  std::string out;
  for (const std::string& t : tokens) {
    out.push_back('/');
    out += EscapeToken(t);
  }
  return out;
}

bool JsonPointer::IsPrefixOf(const JsonPointer& other) const {
  if (tokens_.size() > other.tokens_.size()) return false;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i] != other.tokens_[i]) return false;
  }
  return true;
}

std::optional<size_t> ParseArrayIndex(std::string_view token) {
  if (token.empty() || token.size() > 18) return std::nullopt;
  if (token.size() > 1 && token[0] == '0') return std::nullopt;
  size_t v = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<size_t>(c - '0');
  }
  return v;
}

namespace {

const Json* ResolveImpl(const JsonPointer& pointer, const Json& doc, bool stop_at_enc,
                        bool* blocked = nullptr) {
  const Json* node = &doc;
  for (const std::string& token : pointer.tokens()) {
    if (stop_at_enc && node->is_object() && node->contains("$enc")) return nullptr;
    if (node->is_object()) {
      const auto& object = *node->get_ptr<const Json::object_t*>();
      const Json* next = nullptr;
      for (const auto& member : object) {
        if (member.first == token) {
          next = &member.second;
          break;
        }
      }
      if (next == nullptr) return nullptr;
      node = next;
    } else if (node->is_array()) {
      const auto& array = *node->get_ptr<const Json::array_t*>();
      std::optional<size_t> index = ParseArrayIndex(token);
      if (!index && blocked != nullptr) *blocked = true;
      if (!index || *index >= array.size()) return nullptr;
      node = &array[*index];
    } else {
      if (!node->is_null() && blocked != nullptr) *blocked = true;
      return nullptr;
    }
  }
  return node;
}

}  // namespace

const Json* Resolve(const JsonPointer& pointer, const Json& doc) {
  return ResolveImpl(pointer, doc, false);
}

bool PathBlocked(const JsonPointer& pointer, const Json& doc) {
  bool blocked = false;
  return ResolveImpl(pointer, doc, false, &blocked) == nullptr && blocked;
}

Json* Resolve(const JsonPointer& pointer, Json& doc) {
  return const_cast<Json*>(ResolveImpl(pointer, doc, false));
}

Json* ResolveOutsideEnc(const JsonPointer& pointer, Json& doc) {
  return const_cast<Json*>(ResolveImpl(pointer, doc, true));
}

}  // namespace cairn::protect
