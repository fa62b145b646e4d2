#include "integrity/note.h"

#include <cassert>
#include <optional>

#include "common/bytes.h"
#include "crypto/sha256.h"

namespace cairn::integrity {
namespace {

constexpr std::string_view kSignerPrefix = "PRIVATE+KEY+";
constexpr size_t kKeyIdHexDigits = 8;

// Decodes one UTF-8 code point at the front of `s`, rejecting overlong forms, surrogates and
// values above U+10FFFF. Returns the code point and its length, or nullopt.
std::optional<std::pair<char32_t, size_t>> DecodeUtf8(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = b(0);
  if (lead < 0x80) return std::make_pair(char32_t{lead}, size_t{1});
  size_t n;
  char32_t cp, min;
  if ((lead & 0xE0) == 0xC0) { n = 2; cp = lead & 0x1F; min = 0x80; }
  else if ((lead & 0xF0) == 0xE0) { n = 3; cp = lead & 0x0F; min = 0x800; }
  else if ((lead & 0xF8) == 0xF0) { n = 4; cp = lead & 0x07; min = 0x10000; }
  else return std::nullopt;
  if (s.size() < n) return std::nullopt;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (b(i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  return std::make_pair(cp, n);
}

// Go's unicode.IsSpace, which the reference implementation uses for key names.
bool IsUnicodeSpace(char32_t c) {
  return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool IsControl(char32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

// Calls ok(code point) for each code point; false on invalid UTF-8 or when ok() says so.
template <typename Predicate>
bool AllCodePoints(std::string_view s, Predicate ok) {
  while (!s.empty()) {
    auto decoded = DecodeUtf8(s);
    if (!decoded || !ok(decoded->first)) return false;
    s.remove_prefix(decoded->second);
  }
  return true;
}

uint32_t KeyIdOfKeyBytes(std::string_view name, std::string_view alg_and_key) {
  crypto::Sha256Hasher hasher;
  hasher.Update(name);
  hasher.Update(uint8_t{'\n'});
  hasher.Update(alg_and_key);
  const crypto::Hash h = hasher.Final();
  return DecodeU32(reinterpret_cast<const char*>(h.data()));
}

std::string KeyIdHex(uint32_t key_id) {
  std::string bytes;
  PutU32(&bytes, key_id);
  return HexEncode(bytes);
}

// Exactly 8 lowercase hex digits.
std::optional<uint32_t> ParseKeyIdHex(std::string_view hex) {
  if (hex.size() != kKeyIdHexDigits) return std::nullopt;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  std::optional<std::string> bytes = HexDecode(hex);
  assert(bytes && bytes->size() == kNoteKeyIdSizeBytes);
  return DecodeU32(bytes->data());
}

// Splits "a+b" at the first '+'; nullopt when there is none.
std::optional<std::pair<std::string_view, std::string_view>> ChopPlus(std::string_view s) {
  size_t plus = s.find('+');
  if (plus == std::string_view::npos) return std::nullopt;
  return std::make_pair(s.substr(0, plus), s.substr(plus + 1));
}

std::string AlgorithmName(uint8_t algorithm) {
  return algorithm == kNoteAlgorithmEd25519 ? "Ed25519 (0x01)"
         : algorithm == kCosignatureAlgorithmEd25519 ? "an Ed25519 cosignature key (0x04)"
                                                     : "the expected algorithm";
}

struct KeyText {
  std::string_view name;
  uint32_t key_id;
  std::string key_base64;  // "0x01 || key material", still encoded
};

// Parses "<name>+<hex id>+<base64>" (the base64 part may itself contain '+').
Result<KeyText> ParseKeyText(std::string_view text, const char* what) {
  auto first = ChopPlus(text);
  auto second = first ? ChopPlus(first->second) : std::nullopt;
  if (!second) return Status::InvalidArgument(std::string(what) + " is not name+id+key");
  if (!IsValidNoteKeyName(first->first)) {
    return Status::InvalidArgument(std::string(what) + " has an invalid key name");
  }
  std::optional<uint32_t> id = ParseKeyIdHex(second->first);
  if (!id) {
    return Status::InvalidArgument(std::string(what) + " key id must be 8 lowercase hex digits");
  }
  return KeyText{first->first, *id, std::string(second->second)};
}

}  // namespace

bool IsValidNoteKeyName(std::string_view name) {
  return !name.empty() && AllCodePoints(name, [](char32_t c) {
    return c != '+' && !IsUnicodeSpace(c) && !IsControl(c);
  });
}

bool IsValidNoteSignerName(std::string_view name) {
  return !name.empty() && AllCodePoints(name, [](char32_t c) {
    return c != '+' && !IsUnicodeSpace(c) && c >= 0x20;
  });
}

bool IsValidNoteText(std::string_view text) {
  return AllCodePoints(text, [](char32_t c) { return c == '\n' || c >= 0x20; });
}

uint32_t NoteKeyId(std::string_view name, std::string_view public_key, uint8_t algorithm) {
  std::string alg_and_key(1, static_cast<char>(algorithm));
  alg_and_key.append(public_key);
  return KeyIdOfKeyBytes(name, alg_and_key);
}

std::string VerifierKeyText(std::string_view name, std::string_view public_key, uint8_t algorithm) {
  assert(IsValidNoteKeyName(name));
  assert(public_key.size() == crypto::kEd25519PublicKeySizeBytes);
  std::string alg_and_key(1, static_cast<char>(algorithm));
  alg_and_key.append(public_key);
  return std::string(name) + "+" + KeyIdHex(NoteKeyId(name, public_key, algorithm)) + "+" +
         Base64Encode(alg_and_key);
}

crypto::SecureBytes SignerKeyText(std::string_view name, const crypto::Ed25519PrivateKey& key,
                                  uint8_t algorithm) {
  assert(IsValidNoteKeyName(name));
  std::string alg_and_seed(1, static_cast<char>(algorithm));
  alg_and_seed.append(key.seed().view());
  std::string encoded = Base64Encode(alg_and_seed);
  std::string text = std::string(kSignerPrefix) + std::string(name) + "+" +
                     KeyIdHex(NoteKeyId(name, key.public_key(), algorithm)) + "+" + encoded;
  crypto::SecureBytes out(text);
  crypto::Cleanse(&alg_and_seed);
  crypto::Cleanse(&encoded);
  crypto::Cleanse(&text);
  return out;
}

Result<NoteVerifier> ParseVerifierKey(std::string_view text, uint8_t algorithm) {
  CAIRN_ASSIGN_OR_RETURN(KeyText parts, ParseKeyText(text, "verifier key"));
  std::optional<std::string> key = Base64Decode(parts.key_base64);
  if (!key || key->empty()) return Status::InvalidArgument("verifier key is not valid base64");
  if (static_cast<uint8_t>((*key)[0]) != algorithm) {
    return Status::InvalidArgument("verifier key algorithm is not " + AlgorithmName(algorithm));
  }
  if (key->size() != 1 + crypto::kEd25519PublicKeySizeBytes) {
    return Status::InvalidArgument("verifier key is not a 32-byte Ed25519 public key");
  }
  if (KeyIdOfKeyBytes(parts.name, *key) != parts.key_id) {
    return Status::InvalidArgument("verifier key id does not match the key");
  }
  return NoteVerifier{std::string(parts.name), parts.key_id, key->substr(1)};
}

Result<NoteSigner> ParseSignerKey(std::string_view text, uint8_t algorithm) {
  if (!text.starts_with(kSignerPrefix)) {
    return Status::InvalidArgument("signer key does not start with PRIVATE+KEY+");
  }
  CAIRN_ASSIGN_OR_RETURN(KeyText parts, ParseKeyText(text.substr(kSignerPrefix.size()), "signer key"));
  crypto::SecureBytes encoded(parts.key_base64);
  crypto::Cleanse(&parts.key_base64);
  std::optional<std::string> decoded = Base64Decode(encoded.view());
  if (!decoded) return Status::InvalidArgument("signer key is not valid base64");
  crypto::SecureBytes key(*decoded);
  crypto::Cleanse(&*decoded);
  if (key.empty() || key.data()[0] != algorithm) {
    return Status::InvalidArgument("signer key algorithm is not " + AlgorithmName(algorithm));
  }
  if (key.size() != 1 + crypto::kEd25519SeedSizeBytes) {
    return Status::InvalidArgument("signer key is not a 32-byte Ed25519 seed");
  }
  CAIRN_ASSIGN_OR_RETURN(crypto::Ed25519PrivateKey private_key,
                         crypto::Ed25519PrivateKey::FromSeed(key.view().substr(1)));
  if (NoteKeyId(parts.name, private_key.public_key(), algorithm) != parts.key_id) {
    return Status::InvalidArgument("signer key id does not match the key");
  }
  return NoteSigner{std::string(parts.name), std::move(private_key)};
}

NoteVerifier VerifierForSigner(const NoteSigner& signer, uint8_t algorithm) {
  return NoteVerifier{signer.name, NoteKeyId(signer.name, signer.key.public_key(), algorithm),
                      signer.key.public_key()};
}

Result<std::string> SignNote(std::string_view text, const NoteSigner& signer) {
  if (text.empty() || text.back() != '\n' || !IsValidNoteText(text)) {
    return Status::InvalidArgument(
        "note text must be non-empty UTF-8 ending in a newline, without control characters");
  }
  if (!IsValidNoteKeyName(signer.name)) return Status::InvalidArgument("invalid signer key name");
  CAIRN_ASSIGN_OR_RETURN(std::string signature, signer.key.Sign(text));
  assert(signature.size() == crypto::kEd25519SignatureSizeBytes);
  std::string id_and_signature;
  PutU32(&id_and_signature, NoteKeyId(signer.name, signer.key.public_key()));
  id_and_signature += signature;
  std::string note(text);
  note += '\n';
  note += kNoteSignaturePrefix;
  note += signer.name;
  note += ' ';
  note += Base64Encode(id_and_signature);
  note += '\n';
  if (note.size() > kNoteSizeBytesMax) return Status::InvalidArgument("note is too large");
  return note;
}

}  // namespace cairn::integrity
