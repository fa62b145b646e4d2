// Posture checks that read the store: CAIRN-DATA-001/002 over a bounded sample of the most
// recent events, CAIRN-HOOK-001 over the webhook definitions.
//
// DATA-001 judges the STORED form of each sampled event (engine reads are never revealed): a
// field that protection rules cover is stored as {"$enc": ...}, so a member whose name looks like
// personal data and whose value is not such an object is in clear in the log, where `forget`
// cannot erase it. Findings name the event type and the JSON pointer, never a value; DATA-002
// gives only a count (the stream ids themselves would be personal data).
#include <algorithm>
#include <cassert>
#include <cctype>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "engine/event_store.h"
#include "subscribe/webhook_address_guard.h"
#include "subscribe/webhook_store.h"
#include "server/posture_internal.h"

namespace cairn::server::posture {
namespace {

constexpr uint64_t kSampleChunkEventsMax = 16;
constexpr size_t kMembersPerEventMax = 4096;

// Words of a member name: split at '_', '-', '.', ' ' and lower→upper case changes; lower case.
std::vector<std::string> Words(std::string_view name) {
  std::vector<std::string> words(1);
  for (size_t i = 0; i < name.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    const bool boundary = std::isupper(c) && i > 0 && std::islower(static_cast<unsigned char>(name[i - 1]));
    if (c == '_' || c == '-' || c == '.' || c == ' ' || boundary) {
      if (!words.back().empty()) words.emplace_back();
      if (!boundary) continue;
    }
    words.back().push_back(static_cast<char>(std::tolower(c)));
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

constexpr size_t kNameTokenSizeMax = 64;

// A member name as a finding shows it: one that could be data (an e-mail address or a phone
// number used as a key: anything but a plain identifier of at most 64 characters that does not
// start with a digit) is shown as `*`, and so is an array index. Findings go to the log, `$alerts`
// and the alert webhook, which `forget` cannot reach. A plain identifier that happens to be a
// person's name ("alice") cannot be told apart and is shown.
std::string DisplayToken(std::string_view key) {
  const auto name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '$';
  };
  const bool name_like = !key.empty() && key.size() <= kNameTokenSizeMax &&
                         std::isdigit(static_cast<unsigned char>(key[0])) == 0 &&
                         std::all_of(key.begin(), key.end(), name_char);
  return name_like ? std::string(key) : std::string("*");
}

// The name of the member found (it looks like a field of personal data: "Phone Number",
// "e.mail"): shown unless it could hold data itself (an '@', a digit, a '/').
std::string DisplayFieldName(std::string_view key) {
  const bool plain = key.size() <= kNameTokenSizeMax &&
                     std::none_of(key.begin(), key.end(), [](char c) {
                       return c == '@' || c == '/' || c == '~' ||
                              std::isdigit(static_cast<unsigned char>(c)) != 0 ||
                              std::iscntrl(static_cast<unsigned char>(c)) != 0;
                     });
  return plain ? std::string(key) : DisplayToken(key);
}

bool IsEncryptedField(const nlohmann::json& value) {
  return value.is_object() && value.contains("$enc");
}

// Collects the pointers (DisplayToken) of PII-looking members in clear, bounded in depth, member
// count and pointers found.
void Walk(const nlohmann::json& node, const std::string& pointer, size_t depth, size_t* budget,
          std::set<std::string>* found) {
  if (depth > kJsonDepthMax || *budget == 0) return;
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end() && *budget > 0; ++it, --*budget) {
      if (IsEncryptedField(it.value())) continue;
      if (LooksLikePiiName(it.key()) && !it.value().is_null()) {
        if (found->size() <= kSamplePointersPerTypeMax) {  // one more: shows that some are cut
          found->insert(pointer + "/" + DisplayFieldName(it.key()));
        }
        continue;
      }
      Walk(it.value(), pointer + "/" + DisplayToken(it.key()), depth + 1, budget, found);
    }
  } else if (node.is_array()) {
    for (auto it = node.begin(); it != node.end() && *budget > 0; ++it, --*budget) {
      Walk(*it, pointer + "/*", depth + 1, budget, found);
    }
  }
}

struct DataSample {
  std::map<std::string, std::set<std::string>> clear_by_type;  // event type → pointers
  std::set<std::string> types_cut;  // types with more pointers than kSamplePointersPerTypeMax
  std::set<std::string> email_streams;
  size_t events = 0;
  size_t data_bytes = 0;
};

void SampleEvent(const engine::RecordedEvent& e, DataSample* sample) {
  ++sample->events;
  const std::string& stream = e.entry.stream_id;
  if (!stream.empty() && stream[0] == '$') return;  // cairn's own streams
  if (LooksLikeEmail(stream)) sample->email_streams.insert(stream);  // ≤ kSampleEventsMax
  const std::string& type = e.entry.event_type;
  auto& clear = sample->clear_by_type;
  if (clear.size() >= kSampleEventTypesMax && clear.count(type) == 0) return;
  sample->data_bytes += e.data.size();
  const nlohmann::json doc = nlohmann::json::parse(e.data, nullptr, false);
  if (doc.is_discarded()) return;  // not JSON
  size_t budget = kMembersPerEventMax;
  std::set<std::string> found;
  Walk(doc, "", 0, &budget, &found);
  if (found.empty()) return;
  std::set<std::string>& pointers = clear[type];
  for (const std::string& p : found) {
    if (pointers.count(p) != 0) continue;
    if (pointers.size() >= kSamplePointersPerTypeMax) {
      sample->types_cut.insert(type);
      break;
    }
    pointers.insert(p);
  }
}

// The most recent `events_max` events, newest first, a few at a time; ends early once
// kSampleDataBytesMax of data has been parsed (the oldest are then left out), so that "the last
// N events" of a finding are the newest N.
DataSample SampleRecentEvents(engine::EventStore* store, size_t events_max) {
  DataSample sample;
  const uint64_t size = store->tree_size();
  const uint64_t start = size > events_max ? size - events_max : 0;
  for (uint64_t end = size; end > start && sample.data_bytes < kSampleDataBytesMax;) {
    uint64_t count = std::min<uint64_t>(kSampleChunkEventsMax, end - start);
    auto chunk = store->ReadAll(end - count, count);
    if (chunk.ok() && !chunk->empty() && chunk->back().entry.position + 1 < end) {
      count = 1;  // the read stopped at its byte limit: large events, one at a time
      chunk = store->ReadAll(end - 1, 1);
    }
    if (!chunk.ok() || chunk->size() != count) break;
    assert(chunk->front().entry.position == end - count);
    for (auto e = chunk->rbegin(); e != chunk->rend(); ++e) {
      if (sample.data_bytes >= kSampleDataBytesMax) break;
      SampleEvent(*e, &sample);
    }
    end -= count;
  }
  return sample;
}

}  // namespace

bool LooksLikePiiName(std::string_view name) {
  static const std::set<std::string> kWords = {
      "email", "mail", "phone", "mobile", "telephone", "ssn", "iban", "passport", "address",
      "surname", "dob", "birthdate", "birthday", "firstname", "lastname", "fullname"};
  static const std::set<std::string> kJoined = {
      "name", "firstname", "lastname", "fullname", "givenname", "familyname", "middlename",
      "customername", "personname", "dateofbirth", "socialsecuritynumber", "creditcard",
      "cardnumber", "taxid", "nationalid", "phonenumber", "ipaddress", "postcode", "zipcode"};
  const std::vector<std::string> words = Words(name);
  std::string joined;
  for (const std::string& w : words) {
    if (kWords.count(w) != 0) return true;
    joined += w;
  }
  return kJoined.count(joined) != 0;
}

bool LooksLikeEmail(std::string_view text) {
  const size_t at = text.find('@');
  if (at == 0 || at == std::string_view::npos || text.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  const std::string_view domain = text.substr(at + 1);
  const size_t dot = domain.rfind('.');
  if (dot == 0 || dot == std::string_view::npos || domain.size() - dot - 1 < 2) return false;
  return std::all_of(domain.begin() + static_cast<std::ptrdiff_t>(dot) + 1, domain.end(),
                     [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
}

void CheckData(const PostureContext& context, Findings* out) {
  const size_t events_max = std::min(context.sample_events_max, kSampleEventsMax);
  const DataSample sample = SampleRecentEvents(context.store, events_max);
  const std::string in_the_last = "in the last " + std::to_string(sample.events) + " events";
  for (const auto& [type, pointers] : sample.clear_by_type) {
    std::string list;
    for (const std::string& p : pointers) list += (list.empty() ? "" : ", ") + p;
    if (sample.types_cut.count(type) != 0) list += ", …";
    out->Add("CAIRN-DATA-001", Severity::kHigh,
             "events of type \"" + type + "\" (" + in_the_last + ") store " + list +
                 " in clear: these look like personal data and no protection rule covers them, "
                 "so `forget` cannot erase them",
             "add a rule for \"" + type + "\" naming these fields to the protection rules "
             "(protect.file), or stop sending them");
  }
  if (!sample.email_streams.empty()) {
    out->Add("CAIRN-DATA-002", Severity::kMedium,
             std::to_string(sample.email_streams.size()) + " stream id(s) " + in_the_last +
                 " look like e-mail addresses: stream ids are indexed in clear and cannot be "
                 "erased",
             "name streams by an opaque id (e.g. customer-<uuid>) and keep the address in a "
             "protected field");
  }
}

namespace {

// One allowlisted address of a webhook (`owner` names it) that is not public.
void CheckAllowAddress(const std::string& owner, const std::string& text, const std::string& fix,
                       Findings* out) {
  const std::optional<subscribe::IpAddress> ip = subscribe::ParseIp(text);
  if (!ip) return;
  const subscribe::AddressClass cls = subscribe::Classify(*ip);
  if (cls == subscribe::AddressClass::kPublic) return;
  const bool metadata = cls == subscribe::AddressClass::kMetadata;
  out->Add("CAIRN-HOOK-001", metadata ? Severity::kHigh : Severity::kMedium,
           owner + " allowlists " + text + " (" + subscribe::AddressClassName(cls) +
               "): deliveries may reach internal services (SSRF)",
           fix);
}

}  // namespace

void CheckWebhooks(const PostureContext& context, Findings* out) {
  subscribe::WebhookStore webhooks(context.store);
  if (!webhooks.CheckAvailable().ok()) return;
  auto all = webhooks.LoadAll();
  if (!all.ok()) return;
  for (const subscribe::WebhookDefinition& def : *all) {
    for (const std::string& text : def.allow_addresses) {
      CheckAllowAddress("webhook \"" + def.name + "\"", text,
                        "delete and re-create the webhook without that address, or point it at "
                        "a public receiver; allowlist internal receivers only when they expect "
                        "cairn's signed deliveries",
                        out);
    }
  }
}

void CheckAlertWebhook(const Config& config, Findings* out) {
  if (config.alerts.webhook_url.empty()) return;
  for (const std::string& text : config.alerts.webhook_allow_addresses) {
    CheckAllowAddress("alerts.webhook_allow_addresses", text,
                      "remove the address, or keep it only for an internal alert receiver you run",
                      out);
  }
}

}  // namespace cairn::server::posture
