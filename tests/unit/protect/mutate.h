// Random edits of JSON text for the robustness tests of protect/.
#pragma once

#include <random>
#include <string>
#include <string_view>

namespace cairn::protect {

// `text` after up to `edits` random one-byte edits (replace, insert or erase), with bytes drawn
// from `alphabet`.
inline std::string Mutate(std::string text, int edits, std::string_view alphabet,
                          std::mt19937& rng) {
  for (int e = 0; e < edits && !text.empty(); ++e) {
    const size_t at = rng() % text.size();
    const char c = alphabet[rng() % alphabet.size()];
    switch (rng() % 3) {
      case 0: text[at] = c; break;
      case 1: text.insert(text.begin() + static_cast<long>(at), c); break;
      default: text.erase(at, 1); break;
    }
  }
  return text;
}

}  // namespace cairn::protect
