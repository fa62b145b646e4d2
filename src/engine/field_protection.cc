#include "engine/field_protection.h"

#include "common/parallel_for.h"
#include "protect/protector.h"

namespace cairn::engine {

Result<std::unique_ptr<FieldProtection>> FieldProtection::Open(storage::LogStore* store,
                                                                keys::KmsProvider* kms,
                                                                const std::string& rules_file,
                                                                keys::SubjectKeysOptions key_options) {
  std::shared_ptr<const protect::RuleSet> rules;
  if (rules_file.empty()) {
    CAIRN_ASSIGN_OR_RETURN(rules, protect::ParseRules("", "no rules"));
  } else {
    auto loaded = protect::LoadRules(rules_file);
    if (!loaded.ok()) return loaded.status().Annotate("protection rules");
    rules = std::move(loaded).value();
  }
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<keys::SubjectKeys> subject_keys,
                         keys::SubjectKeys::Open(store, kms, std::move(key_options)));
  return std::unique_ptr<FieldProtection>(
      new FieldProtection(std::move(rules), std::move(subject_keys)));
}

Status FieldProtection::ProtectAppend(std::string_view stream_id,
                                      std::vector<ProposedEvent>* events) {
  for (ProposedEvent& event : *events) {
    const protect::Rule* rule = rules_->Find(event.event_type);
    if (rule == nullptr) continue;
    if (event.event_id.empty()) event.event_id = NewUuidV4();  // the field AAD binds it
    if (event.event_id.size() != 16) return Status::InvalidArgument("event id must be 16 bytes");
    auto stored = protect::ProtectEvent(*rule, stream_id, event.event_id, event.data,
                                        event.subject, *subject_keys_, &ciphers_);
    if (!stored.ok()) return stored.status();
    event.data = std::move(stored).value();
  }
  return Status::Ok();
}

Result<RecordedEvent> FieldProtection::Reveal(RecordedEvent event, bool may_read_pii) {
  const protect::Rule* rule = rules_->Find(event.entry.event_type);
  if (rule == nullptr) return event;
  auto view = protect::RevealEvent(*rule, event.entry.stream_id, event.entry.event_id, event.data,
                                   may_read_pii, *subject_keys_, &ciphers_);
  if (!view.ok()) {
    return view.status().Annotate("event at position " + std::to_string(event.entry.position));
  }
  event.data = std::move(view->data_json);
  event.masked = std::move(view->masked);
  event.erased = std::move(view->erased);
  event.revealed = std::move(view->revealed);
  event.masked_in_clear = view->masked_in_clear;
  return event;
}

Status FieldProtection::RevealMany(std::span<RecordedEvent> events,
                                   std::span<const FieldView> views) {
  if (events.size() != views.size()) {
    return Status::InvalidArgument("RevealMany needs one view per event");
  }
  // The protected ones only: a run of unprotected events starts no thread.
  std::vector<std::pair<size_t, const protect::Rule*>> work;
  for (size_t i = 0; i < events.size(); ++i) {
    if (views[i] == FieldView::kStored) continue;
    const protect::Rule* rule = rules_->Find(events[i].entry.event_type);
    if (rule != nullptr) work.emplace_back(i, rule);
  }
  return ParallelFor(work.size(), kParallelRevealMin, [&](size_t w) -> Status {
    RecordedEvent& event = events[work[w].first];
    auto view = protect::RevealEvent(*work[w].second, event.entry.stream_id, event.entry.event_id,
                                     event.data, views[work[w].first] == FieldView::kPlain,
                                     *subject_keys_, &ciphers_);
    if (!view.ok()) {
      return view.status().Annotate("event at position " + std::to_string(event.entry.position));
    }
    event.data = std::move(view->data_json);
    event.masked = std::move(view->masked);
    event.erased = std::move(view->erased);
    event.revealed = std::move(view->revealed);
    event.masked_in_clear = view->masked_in_clear;
    return Status::Ok();
  });
}

Result<ForgetResult> FieldProtection::Forget(std::string_view subject) {
  Result<keys::ForgetReport> report = subject_keys_->Forget(subject);
  // Also after a partial failure: contexts of keys destroyed so far must not outlive the call.
  ciphers_.Clear();
  if (!report.ok()) return report.status();
  return ForgetResult{report->versions_destroyed, report->purge_pending};
}

void FieldProtection::DropExpiredKeys() {
  subject_keys_->DropExpiredKeys();
  ciphers_.DropDead();
}

void FieldProtection::ForgetCachedKeys() {
  subject_keys_->EvictCached();
  ciphers_.Clear();
}

}  // namespace cairn::engine
