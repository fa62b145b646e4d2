// EventStore implementation: opening a data directory, appends through the sequencer, reads,
// checkpoints and proofs.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "common/bytes.h"
#include "common/log.h"
#include "audit/metrics.h"
#include "common/thread_name.h"
#include "common/wall_clock.h"
#include "crypto/x509.h"
#include "engine/data_dir.h"
#include "engine/engine_metrics.h"
#include "engine/metered_kms.h"
#include "engine/parallel_decoder.h"
#include "engine/protect_queue.h"
#include "engine/range_verifier.h"
#include "engine/event_codec.h"
#include "engine/event_store.h"
#include "engine/field_protection.h"
#include "engine/key_page_token.h"
#include "engine/sequencer.h"
#include "engine/memo_node_reader.h"
#include "engine/store_node_reader.h"
#include "engine/verifier.h"
#include "integrity/checkpoint.h"
#include "integrity/note.h"
#include "keys/kms_config.h"
#include "keys/component_secrets.h"
#include "keys/kms_failure.h"
#include "keys/kms_health_gate.h"
#include "keys/subject_keys.h"
#include "storage/rocksdb/rocks_log_store.h"

namespace cairn::engine {
namespace {

constexpr std::string_view kMetaInitialized = "initialized";
// Shared stores: reads of a stream's head before a read gives up because the stream keeps moving
// beyond what this node knows to be durable (ReadDurableStreamHead).
constexpr int kDurableHeadReadsMax = 8;
constexpr std::string_view kMetaOrigin = "origin";
// Component state (EventStore::PutComponentState) lives under its own meta prefix.
const std::string kComponentStatePrefix = "component/";

Status CheckComponentStateName(std::string_view name) {
  const size_t slash = name.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= name.size()) {
    return Status::InvalidArgument("component state names are '<component>/<name>'");
  }
  return Status::Ok();
}

constexpr std::string_view kCheckpointKeyName = "checkpoint-signing-key";

constexpr std::string_view kMetaKmsProvider = "kms_provider";
constexpr std::string_view kMetaKmsKekId = "kms_kek_id";
// The digest of the protection rules of the latest open (Options::protect_rules_must_match_recorded).
constexpr std::string_view kMetaProtectRules = "protect_rules_sha256";
// On a shared store: the KEK id a rotation re-wrapped everything under and then kept the older
// versions for (RotateKek); the next rotation retires them only under this same KEK.
constexpr std::string_view kMetaKekKeptFor = "kms_kek_kept_for";

struct OpenParts {
  std::unique_ptr<DataDirLock> lock;
  std::unique_ptr<keys::KmsProvider> kms;
  std::unique_ptr<storage::LogStore> store;
};

// The configured provider with the data directory's defaults filled in.
keys::KmsConfig EffectiveKms(const keys::KmsConfig& config, const DataDirPaths& paths) {
  keys::KmsConfig out = config;
  if (out.provider == keys::kProviderLocal && out.local.keyring_path.empty()) {
    out.local.keyring_path = paths.keyring;
  }
  return out;
}

// Refuses a configuration whose provider kind differs from the one recorded at init. Runs before
// the provider is opened, so the message is about the mismatch, not a missing keyring or token.
Status CheckRecordedProvider(storage::LogStore* store, const DataDirPaths& paths,
                             const std::string& provider) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> recorded, store->ReadMeta(kMetaKmsProvider));
  if (!recorded || *recorded == provider) return Status::Ok();
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> kek, store->ReadMeta(kMetaKmsKekId));
  return Status::FailedPrecondition(
      "data directory " + paths.dir + " keeps its keys under the \"" + *recorded +
      "\" KMS provider (KEK " + kek.value_or("?") + ") but the configuration selects \"" +
      provider + "\"; set [keys] provider = \"" + *recorded + "\" and its settings");
}

// Refuses a provider that does not hold the KEK recorded at init (or by the last rotation).
Status CheckRecordedKek(storage::LogStore* store, const DataDirPaths& paths,
                        keys::KmsProvider& kms) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> kek, store->ReadMeta(kMetaKmsKekId));
  if (!kek || kms.HasKek(*kek)) return Status::Ok();
  return Status::FailedPrecondition(
      "data directory " + paths.dir + " keeps its keys under KEK " + *kek + ", which the " +
      std::string(kms.provider_name()) + " provider configured here does not hold (it has " +
      kms.kek_id() + "); check [keys] (keyring, token, key_label)");
}

Status RecordKms(storage::LogStore* store, keys::KmsProvider& kms) {
  CAIRN_RETURN_IF_ERROR(store->PutMeta(kMetaKmsProvider, kms.provider_name()));
  return store->PutMeta(kMetaKmsKekId, kms.kek_id());
}

// Where the log lives: <data_dir>/db (RocksDB) or a PostgreSQL database.
struct StoreLocation {
  bool sync = true;
  bool read_only = false;  // RocksDB: open without writing anything (VerifyDataDir)
  bool point_in_time_recovery = false;  // RocksDB: drop the WAL from a damaged record on (RecoverDataDir)
  std::shared_ptr<rocksdb::Env> env_for_test;
  std::optional<storage::PgOptions> postgres;
};

Result<std::unique_ptr<storage::LogStore>> OpenStoreAt(const DataDirPaths& paths, bool create,
                                                       const StoreLocation& where) {
  storage::RocksOptions ro;
  ro.read_only = where.read_only;
  ro.point_in_time_recovery = where.point_in_time_recovery;
  ro.env_for_test = where.env_for_test;
  ro.path = paths.db;
  ro.create_if_missing = create;
  ro.sync = where.sync;
  return storage::OpenRocksLogStore(ro);
}

// Opens the PostgreSQL store and checks that it holds a log (or, with `create`, that it does not).
Result<std::unique_ptr<storage::LogStore>> OpenPgStore(const storage::PgOptions& options, bool create) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<storage::LogStore> store, storage::OpenPgLogStore(options));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> initialized, store->ReadMeta(kMetaInitialized));
  if (create && initialized) return Status::AlreadyExists("the PostgreSQL database already holds a cairn log");
  if (!create && !initialized) {
    return Status::NotFound("the PostgreSQL database holds no cairn log (run `cairn init` with [storage] backend = \"postgres\")");
  }
  return store;
}

Result<OpenParts> OpenParts_(const DataDirPaths& paths, bool create, const StoreLocation& where,
                             const keys::KmsConfig& kms_config) {
  OpenParts p;
  const bool pg = where.postgres.has_value();
  CAIRN_ASSIGN_OR_RETURN(p.lock, DataDirLock::Acquire(paths, create || pg));
  struct stat st;
  const bool exists = ::stat(paths.db.c_str(), &st) == 0;
  if (!pg && create && exists) return Status::AlreadyExists("data directory " + paths.dir + " is already initialised");
  if (!pg && !create && !exists) return Status::NotFound("data directory " + paths.dir + " is not initialised (run `cairn init`)");
  const keys::KmsConfig kms = EffectiveKms(kms_config, paths);
  CAIRN_RETURN_IF_ERROR(keys::CheckKmsConfig(kms));
  auto open_store = [&]() -> Result<std::unique_ptr<storage::LogStore>> {
    if (pg) return OpenPgStore(*where.postgres, create);
    return OpenStoreAt(paths, create, where);
  };
  if (create) {  // the provider first: a refused KMS set-up leaves no half-made store behind
    const bool local = kms.provider == keys::kProviderLocal;
    const bool keyring_existed = local && ::stat(kms.local.keyring_path.c_str(), &st) == 0;
    CAIRN_ASSIGN_OR_RETURN(p.kms, keys::OpenKms(kms, /*create=*/true));
    auto store = open_store();
    if (!store.ok()) {
      // The keyring this run made protects nothing yet: left behind, it would make every later
      // init fail with "keyring already exists". One that was there before is never touched.
      p.kms.reset();
      if (local && !keyring_existed) ::unlink(kms.local.keyring_path.c_str());
      return store.status();
    }
    p.store = std::move(store).value();
    return p;
  }
  CAIRN_ASSIGN_OR_RETURN(p.store, open_store());
  CAIRN_RETURN_IF_ERROR(CheckRecordedProvider(p.store.get(), paths, kms.provider));
  CAIRN_ASSIGN_OR_RETURN(p.kms, keys::OpenKms(kms, /*create=*/false));
  CAIRN_RETURN_IF_ERROR(CheckRecordedKek(p.store.get(), paths, *p.kms));
  return p;
}

Result<integrity::NoteSigner> LoadSigner(storage::LogStore* store, keys::KmsProvider* kms,
                                         const std::string& origin) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> wrapped, store->ReadKeyMaterial(kCheckpointKeyName));
  if (!wrapped) return Status::DataLoss("the checkpoint signing key is missing");
  CAIRN_ASSIGN_OR_RETURN(crypto::SecureBytes seed, kms->Unwrap(*wrapped, kCheckpointKeyName));
  CAIRN_ASSIGN_OR_RETURN(crypto::Ed25519PrivateKey key, crypto::Ed25519PrivateKey::FromSeed(seed.view()));
  return integrity::NoteSigner{origin, std::move(key)};
}

class EventStoreImpl final : public EventStore {
 public:
  EventStoreImpl(const Options& options, OpenParts parts, std::unique_ptr<keys::StorageKeys> keys,
                 integrity::NoteSigner signer)
      : options_(options),
        metrics_(options.metrics),
        parts_(std::move(parts)),
        keys_(std::move(keys)),
        signer_(std::move(signer)),
        verifier_{signer_.name, integrity::NoteKeyId(signer_.name, signer_.key.public_key()),
                  signer_.key.public_key()} {}

  ~EventStoreImpl() override {
    store()->SetChangeListener({});  // waits out a running notification
    PublishScrapeMetrics(/*live=*/false);
    StopCheckpointer();
    protect_queue_.reset();  // protects and submits what waits for it, before the sequencer stops
    sequencer_.reset();  // drains queued appends before the store closes
  }

  Status Start() {
    keys::SubjectKeysOptions key_options;
    key_options.cache_entries_max = options_.subject_key_cache_entries_max;
    key_options.cache_ttl_ms = options_.subject_key_cache_ttl_ms;
    CAIRN_ASSIGN_OR_RETURN(protection_,
                           FieldProtection::Open(parts_.store.get(), parts_.kms.get(),
                                                 options_.protect_rules_file, key_options));
    CAIRN_RETURN_IF_ERROR(RecordProtectRules());
    kms_gate_ = std::make_unique<keys::KmsHealthGate>(parts_.kms.get(), options_.kms_health_interval_ms);
    CAIRN_ASSIGN_OR_RETURN(sequencer_, Sequencer::Start(parts_.store.get(), keys_.get(), options_));
    sequencer_->SetCommitListener([this](uint64_t tree_size) { NotifyObservers(tree_size); });
    protect_queue_ = std::make_unique<ProtectQueue>(options_.protect_threads,
                                                    options_.protect_queue_appends_max,
                                                    options_.protect_queue_bytes_max);
    if (store()->shared()) ListenToOtherNodes();
    CAIRN_RETURN_IF_ERROR(CheckTail());
    checkpoint_signed_ns_ = MonotonicNowNs();  // signed before this process: age counts from here
    if (auto latest = LatestStoredCheckpoint(); latest.ok()) checkpoint_size_ = latest->size;
    PublishScrapeMetrics(/*live=*/true);
    if (options_.checkpoint_interval_ms > 0) checkpointer_ = std::thread([this] {
        SetCurrentThreadName("cairn-checkpnt");
        RunCheckpointer();
      });
    return Status::Ok();
  }

  // Compares this open's protection rules with those of the previous open and records them; or,
  // with Options::protect_rules_must_match_recorded, refuses every client append while they differ.
  Status RecordProtectRules() {
    const std::string digest = protection_->RulesDigestHex();
    CAIRN_ASSIGN_OR_RETURN(const std::optional<std::string> recorded, store()->ReadMeta(kMetaProtectRules));
    if (recorded && *recorded == digest) return Status::Ok();
    if (recorded && options_.protect_rules_must_match_recorded) {
      protect_rules_mismatch_ =
          "the store was last opened with other protection rules (rules digest " + recorded->substr(0, 16) +
          "…, these are " + digest.substr(0, 16) + "…): append with its server's [protect] rules, so that "
          "personal data is never appended in the clear";
      return Status::Ok();  // reads, key acts and system appends go on
    }
    if (recorded) {
      log::Warn("engine: the protection rules differ from those of the previous open",
                {.action = "engine.open", .extra = {{"cairn.rules_sha256", digest},
                                                    {"cairn.previous_rules_sha256", *recorded}}});
    }
    return store()->PutMeta(kMetaProtectRules, digest);
  }

  Result<AppendResult> Append(std::string_view stream_id, ExpectedVersion expected,
                              std::vector<ProposedEvent> events) override {
    metrics_.RecordAppendCall();
    const int64_t started_ns = metrics_.enabled() ? MonotonicNowNs() : 0;
    CAIRN_RETURN_IF_ERROR(CheckKmsFor(events));
    CAIRN_RETURN_IF_ERROR(Protect(stream_id, &events));
    CAIRN_ASSIGN_OR_RETURN(PreparedAppend prepared,
                           PrepareAppend(stream_id, expected, std::move(events), options_.limits));
    prepared.call_started_ns = started_ns;
    return sequencer_->Submit(std::move(prepared));
  }

  // Field protection of a client append, after the checks that need no JSON parse: an append
  // that will be refused creates no subject key and encrypts nothing.
  Status Protect(std::string_view stream_id, std::vector<ProposedEvent>* events) {
    if (!protect_rules_mismatch_.empty()) return Status::FailedPrecondition(protect_rules_mismatch_);
    const auto is_protected = [&](std::string_view type) { return protection_->IsProtected(type); };
    CAIRN_RETURN_IF_ERROR(CheckNoEncMembers(*events, is_protected));  // protected: checked below
    const bool any_protected = std::any_of(events->begin(), events->end(), [&](const auto& e) {
      return is_protected(e.event_type);
    });
    if (!any_protected) return Status::Ok();
    CAIRN_RETURN_IF_ERROR(PrecheckAppend(stream_id, events, options_.limits));
    return protection_->ProtectAppend(stream_id, events);
  }

  // AppendAsync's checks, protection and hand-over to the sequencer, on the calling thread.
  void SubmitAsync(std::string_view stream_id, ExpectedVersion expected,
                   std::vector<ProposedEvent> events, AppendCallback done, int64_t started_ns) {
    if (Status s = CheckKmsFor(events); !s.ok()) {
      done(s);
      return;
    }
    if (Status s = Protect(stream_id, &events); !s.ok()) {
      done(s);
      return;
    }
    Result<PreparedAppend> prepared =
        PrepareAppend(stream_id, expected, std::move(events), options_.limits);
    if (!prepared.ok()) {
      done(prepared.status());
      return;
    }
    prepared->call_started_ns = started_ns;
    sequencer_->SubmitAsync(std::move(prepared).value(), std::move(done));
  }

  std::string SubjectHashHex(std::string_view subject) const override {
    return protection_->subject_keys().SubjectHashHex(subject);
  }

  Result<AppendResult> AppendSystem(std::string_view stream_id, ExpectedVersion expected,
                                    std::vector<ProposedEvent> events) override {
    CAIRN_ASSIGN_OR_RETURN(PreparedAppend prepared,
                           PrepareAppend(stream_id, expected, std::move(events),
                                         SystemLimits(options_.limits), AppendOrigin::kSystem));
    return sequencer_->Submit(std::move(prepared));
  }

  void AppendAsync(std::string_view stream_id, ExpectedVersion expected,
                   std::vector<ProposedEvent> events, AppendCallback done) override {
    metrics_.RecordAppendCall();
    const int64_t started_ns = metrics_.enabled() ? MonotonicNowNs() : 0;
    const bool any_protected = std::any_of(events.begin(), events.end(), [&](const auto& e) {
      return protection_->IsProtected(e.event_type);
    });
    // An unprotected append of a stream whose protected appends are still queued goes behind
    // them, so that the stream's appends reach the sequencer in the order they were made.
    if (!any_protected && !protect_queue_->Busy(stream_id)) {
      SubmitAsync(stream_id, expected, std::move(events), std::move(done), started_ns);
      return;
    }
    uint64_t bytes = 0;
    for (const ProposedEvent& e : events) bytes += e.data.size() + e.metadata.size();
    // Shared, so that `done` outlives a refused Post (which drops the task unrun).
    struct Pending {
      std::string stream_id;
      ExpectedVersion expected;
      std::vector<ProposedEvent> events;
      AppendCallback done;
    };
    auto pending = std::make_shared<Pending>(
        Pending{std::string(stream_id), expected, std::move(events), std::move(done)});
    const bool queued = protect_queue_->Post(stream_id, bytes, [this, pending, started_ns] {
      SubmitAsync(pending->stream_id, pending->expected, std::move(pending->events),
                  std::move(pending->done), started_ns);
    });
    if (!queued) {
      metrics_.RecordProtectQueueFull();
      pending->done(Status::Unavailable(
          "too many appends of protected events are waiting to be encrypted; retry"));
    }
  }

  Result<RecordedEvent> Reveal(RecordedEvent event, bool may_read_pii) override {
    return protection_->Reveal(std::move(event), may_read_pii);
  }
  Status RevealMany(std::span<RecordedEvent> events, std::span<const FieldView> views) override {
    return protection_->RevealMany(events, views);
  }
  bool IsProtected(std::string_view event_type) const override {
    return protection_->IsProtected(event_type);
  }
  Result<ForgetResult> Forget(std::string_view subject) override {
    return protection_->Forget(subject);
  }

  Result<uint32_t> RotateStorageKey() override { return sequencer_->RotateStorageKey(); }

  Result<std::string> RotateSubjectKey(std::string_view subject) override {
    CAIRN_ASSIGN_OR_RETURN(keys::SubjectKey key, protection_->subject_keys().Rotate(subject));
    return key.kid;
  }

  Result<BackupResult> Backup(const std::string& dir) override;

  Result<KekRotation> RotateKek() override {
    // Exclusive: component secrets being wrapped and stored (PutComponentSecret) finish first.
    std::unique_lock<std::shared_mutex> lock(kek_rotation_mu_);
    // And one node at a time: two nodes adding a KEK version at once would each make their own.
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<storage::LogStore::NodeLock> across_nodes,
                           store()->TryLockAcrossNodes(storage::LogStore::NodeLockKind::kKekRotation));
    keys::KmsProvider& kms = *parts_.kms;
    KekRotation out;
    out.resumed = kms.kek_version_count() > 1;  // an earlier rotation was interrupted
    if (!out.resumed) CAIRN_RETURN_IF_ERROR(kms.AddKekVersion().status());
    out.kek_id = kms.kek_id();
    CAIRN_RETURN_IF_ERROR(store()->PutMeta(kMetaKmsKekId, out.kek_id));
    CAIRN_ASSIGN_OR_RETURN(uint64_t subjects, protection_->subject_keys().RewrapToCurrent());
    CAIRN_ASSIGN_OR_RETURN(uint64_t epochs, keys_->RewrapAll());
    CAIRN_ASSIGN_OR_RETURN(std::string wrapped, kms.Wrap(signer_.key.seed().view(), kCheckpointKeyName));
    CAIRN_RETURN_IF_ERROR(store()->PutKeyMaterial(kCheckpointKeyName, wrapped));
    // Webhook signing secrets: before this, a rotation left them under the retired KEK, and every
    // webhook made before it failed to load its secret at the next start.
    CAIRN_ASSIGN_OR_RETURN(keys::ComponentRewrap secrets, keys::RewrapComponentSecrets(store(), &kms));
    if (kms.kek_id() != out.kek_id) return Status::Aborted("the KEK changed during re-wrapping");
    out.rewrapped = subjects + epochs + 1 + secrets.rewrapped;
    out.unreadable_secrets = secrets.unreadable;
    // Several nodes: the others wrap new keys under the version they loaded until they restart,
    // so retiring it now would lose what they wrap meanwhile. The next call (after they
    // restarted) re-wraps that too and retires — only a call that finds this KEK recorded as
    // kept: a first rotation that crashed part-way (resumed too) keeps the old versions as well.
    if (store()->shared()) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> kept_for, store()->ReadMeta(kMetaKekKeptFor));
      if (!out.resumed || kept_for != out.kek_id) {
        CAIRN_RETURN_IF_ERROR(store()->PutMeta(kMetaKekKeptFor, out.kek_id));
        out.old_kek_kept = true;
        return out;
      }
    }
    if (secrets.unreadable > 0) {  // retiring could make a secret that failed for now lost for good
      out.old_kek_kept = true;
      return out;
    }
    CAIRN_RETURN_IF_ERROR(kms.RetireOldKekVersions());  // everything is under the new KEK now
    return out;
  }

  Result<KeyPage> ListKeys(std::string_view page_token, size_t keys_max) override {
    keys_max = std::clamp<size_t>(keys_max, 1, kKeyPageKeysMax);
    CAIRN_ASSIGN_OR_RETURN(KeyPageToken token, KeyPageToken::Parse(page_token));
    KeyPage page;
    if (token.kind == KeyPageToken::Kind::kStorage) {
      const keys::StorageEpoch current = keys_->current();
      uint32_t e = token.epoch;
      for (; e <= current.epoch && page.keys.size() < keys_max; ++e) {
        if (keys_->Key(e) == nullptr) continue;
        KeyInfo& k = page.keys.emplace_back();
        k.kind = "storage";
        k.id = std::to_string(e);
        k.version = e;
        k.current = e == current.epoch;
      }
      // Full (or epochs remain): the next page starts at epoch e, past the last one when full.
      if (e <= current.epoch || page.keys.size() == keys_max) {
        assert(e <= current.epoch + 1);
        page.next_page_token = KeyPageToken::Storage(e);
        return page;
      }
    }
    assert(page.keys.size() < keys_max);
    CAIRN_ASSIGN_OR_RETURN(
        std::string resume_after, protection_->subject_keys().ListKeys(
                       token.subject_hash, keys_max - page.keys.size(), [&](const keys::SubjectKeyInfo& s) {
                         KeyInfo& k = page.keys.emplace_back();
                         k.kind = "subject";
                         k.id = s.kid;
                         k.version = s.version;
                         k.created_unix_s = s.created_unix_s;
                         k.subject_hash_hex = s.subject_hash_hex;
                         k.current = s.current;
                         return true;
                       }));
    if (!resume_after.empty()) page.next_page_token = KeyPageToken::Subject(resume_after);
    return page;
  }

  uint64_t AddCommitObserver(std::function<void(uint64_t)> observer) override {
    assert(observer);
    std::lock_guard<std::mutex> lock(observers_mu_);
    if (observers_.size() >= kCommitObserversMax) return 0;
    const uint64_t handle = ++observer_handle_last_;
    observers_.emplace(handle, std::move(observer));
    return handle;
  }

  void RemoveCommitObserver(uint64_t handle) override {
    std::lock_guard<std::mutex> lock(observers_mu_);  // waits out a running notification
    observers_.erase(handle);
  }

  Status PutComponentState(std::string_view name, std::string_view value) override {
    CAIRN_RETURN_IF_ERROR(CheckComponentStateName(name));
    return store()->PutMeta(kComponentStatePrefix + std::string(name), value);
  }
  Result<std::optional<std::string>> ReadComponentState(std::string_view name) override {
    CAIRN_RETURN_IF_ERROR(CheckComponentStateName(name));
    return store()->ReadMeta(kComponentStatePrefix + std::string(name));
  }
  storage::LogStore* log_store() override { return parts_.store.get(); }
  keys::KmsProvider* kms() override { return parts_.kms.get(); }
  Status PutComponentSecret(std::string_view name, const crypto::SecureBytes& secret) override {
    const bool component = std::any_of(
        keys::kComponentSecretPrefixes.begin(), keys::kComponentSecretPrefixes.end(),
        [&](std::string_view prefix) { return name.size() > prefix.size() && name.starts_with(prefix); });
    if (!component) return Status::InvalidArgument("not a component secret name");
    std::shared_lock<std::shared_mutex> rotation(kek_rotation_mu_);
    Result<std::string> wrapped = parts_.kms->Wrap(secret.view(), name);
    if (!wrapped.ok()) return keys::KmsFailure(*parts_.kms, "wrap component secrets", wrapped.status());
    return store()->PutKeyMaterial(name, *wrapped);
  }

  Result<AppendResult> DeleteStream(std::string_view stream_id, ExpectedVersion expected) override {
    CAIRN_RETURN_IF_ERROR(ValidateStreamId(stream_id));
    if (stream_id[0] == '$') return Status::InvalidArgument("system streams cannot be deleted");
    PreparedAppend a;
    a.stream_id.assign(stream_id);
    a.expected = expected;
    a.tombstone = true;
    PreparedEvent e;
    e.event_id = NewUuidV4();
    e.event_type = std::string(kTombstoneEventType);
    e.content_type = std::string(kDefaultContentType);
    e.data = "{}";
    e.data_hash = crypto::Sha256(e.data);
    e.metadata_hash = crypto::Sha256("");
    e.content_tag = ContentTag(e.event_type, e.content_type, e.metadata_hash.data(),
                               e.data_hash.data(), e.data);
    a.events.push_back(std::move(e));
    return sequencer_->Submit(std::move(a));
  }

  // A stream's versions are dense: a page of its index holds from_version, from_version ± 1, …
  // and ends short only at the stream's first or last version. An index entry removed or a run
  // shortened would otherwise make a read skip events silently (kDataLoss instead).
  static Status CheckIndexIsDense(std::string_view stream_id, const storage::StreamHead& head,
                                  uint64_t from_version, bool backwards, uint64_t limit,
                                  const std::vector<storage::StreamIndexEntry>& index) {
    const auto missing = [&](uint64_t version) {
      return Status::DataLoss("the stream index of '" + std::string(stream_id) +
                              "' has no entry for version " + std::to_string(version));
    };
    if (!backwards && from_version >= head.next_version) return Status::Ok();
    for (size_t i = 0; i < index.size(); ++i) {
      const uint64_t want = backwards ? from_version - i : from_version + i;
      if (index[i].version != want) return missing(want);
      if (backwards && want == 0 && i + 1 < index.size()) return missing(0);
    }
    if (limit == 0 || index.size() >= limit) return Status::Ok();
    if (backwards) {
      if (index.size() <= from_version) return missing(from_version - index.size());
    } else if (from_version + index.size() < head.next_version) {
      return missing(from_version + index.size());
    }
    return Status::Ok();
  }

  // At least one byte: every read returns an event when one is there.
  uint64_t ReadSizeBytesMax() const {
    return std::max<uint64_t>(1, options_.limits.read_size_bytes_max);
  }

  Result<ReadStreamResult> ReadStream(std::string_view stream_id, uint64_t from_version,
                                      Direction direction, uint64_t limit) override {
    CAIRN_RETURN_IF_ERROR(ValidateStreamId(stream_id));
    CAIRN_ASSIGN_OR_RETURN(std::optional<storage::StreamHead> head, ReadDurableStreamHead(stream_id));
    if (!head || head->next_version == 0) return Status::NotFound("stream '" + std::string(stream_id) + "' does not exist");
    if (head->deleted) return Status::StreamDeleted("stream '" + std::string(stream_id) + "' is deleted");
    limit = std::min(limit, options_.limits.read_events_max);
    const bool backwards = direction == Direction::kBackwards;
    if (backwards) from_version = std::min(from_version, head->next_version - 1);
    CAIRN_ASSIGN_OR_RETURN(std::vector<storage::StreamIndexEntry> index,
                           store()->ReadStreamIndex(stream_id, from_version, backwards, limit));
    // Versions appended after the head was read may not be durable yet (a shared store): the
    // read ends at the head it checked.
    if (!backwards) {
      auto beyond = std::find_if(index.begin(), index.end(),
                                 [&](const storage::StreamIndexEntry& e) { return e.version >= head->next_version; });
      index.erase(beyond, index.end());
    }
    CAIRN_RETURN_IF_ERROR(CheckIndexIsDense(stream_id, *head, from_version, backwards, limit, index));
    ReadStreamResult out;
    // Grown as records are read: a page the size bound cuts after a few large events does not
    // hold room for the whole index page.
    constexpr size_t kReserveEventsMax = 1024;
    out.events.reserve(std::min(index.size(), kReserveEventsMax));
    RecordCipher cipher(keys_.get());
    uint64_t size_bytes = 0;
    size_t read = 0;
    while (read < index.size() && size_bytes < ReadSizeBytesMax()) {
      const storage::StreamIndexEntry& at = index[read++];
      CAIRN_ASSIGN_OR_RETURN(std::string stored, store()->ReadRecord(at.position));
      size_bytes += stored.size();
      RecordedEvent& event = out.events.emplace_back();
      CAIRN_RETURN_IF_ERROR(DecodeRecordedEvent(cipher, at.position, stored, &event));
      if (event.entry.stream_version != at.version || event.entry.stream_id != stream_id) {
        return Status::DataLoss("stream index disagrees with the record at position " +
                                std::to_string(at.position), at.position);
      }
    }
    const bool cut_by_size = read < index.size();  // the page continues in the next read
    assert(out.events.size() == read);
    const uint64_t last = read == 0 ? from_version : index[read - 1].version;
    out.end_of_stream = !cut_by_size && (index.size() < limit ||
                                         (backwards ? last == 0 : last + 1 >= head->next_version));
    return out;
  }

  Result<std::vector<RecordedEvent>> ReadAll(uint64_t from_position, uint64_t limit) override {
    limit = std::min(limit, options_.limits.read_events_max);
    // On a shared store the wanted end is the end of the page, so that a read after another
    // node's acknowledged append sees it (read-your-acknowledged-writes across nodes).
    const uint64_t wanted_end = limit > UINT64_MAX - from_position ? UINT64_MAX : from_position + limit;
    Result<uint64_t> committed = CommittedSize(std::max<uint64_t>(wanted_end, from_position + 1));
    // The shared state unreadable: what this node knows is committed is still served (a short
    // page; a live subscriber catching up keeps going), but nothing is answered as the end.
    if (!committed.ok() && from_position >= sequencer_->committed().size) return committed.status();
    const uint64_t size = committed.ok() ? *committed : sequencer_->committed().size;
    if (from_position >= size) return std::vector<RecordedEvent>{};
    limit = std::min(limit, size - from_position);
    ParallelDecoder decoder(keys_.get(), from_position, limit, ReadSizeBytesMax());
    Status scan = store()->ScanRecords(from_position, limit, [&](uint64_t pos, std::string_view rec) {
      return decoder.Add(pos, rec);  // false on a gap: reported below
    });
    CAIRN_ASSIGN_OR_RETURN(std::vector<RecordedEvent> out, decoder.Finish(scan));
    return out;
  }

  Result<RecordedEvent> ReadAt(uint64_t position) override {
    CAIRN_ASSIGN_OR_RETURN(const uint64_t size, CommittedSize(position + 1));
    if (position >= size) {
      return Status::NotFound("position " + std::to_string(position) + " is beyond the end of the log");
    }
    CAIRN_ASSIGN_OR_RETURN(std::string stored, store()->ReadRecord(position));
    RecordCipher cipher(keys_.get());
    RecordedEvent ev;
    CAIRN_RETURN_IF_ERROR(DecodeRecordedEvent(cipher, position, stored, &ev));
    return ev;
  }

  Result<StreamInfo> GetStreamInfo(std::string_view stream_id) override {
    CAIRN_RETURN_IF_ERROR(ValidateStreamId(stream_id));
    CAIRN_ASSIGN_OR_RETURN(std::optional<storage::StreamHead> head, ReadDurableStreamHead(stream_id));
    StreamInfo info;
    if (!head || head->next_version == 0) return info;
    info.exists = true;
    info.event_count = head->next_version;
    info.last_version = head->next_version - 1;
    info.last_position = head->last_position;
    info.deleted = head->deleted;
    return info;
  }

  uint64_t tree_size() const override { return sequencer_->committed().size; }
  Result<uint64_t> LatestTreeSize() override { return CommittedSize(UINT64_MAX); }
  RemoteReads remote_reads() override {
    const Sequencer::RebaseReads r = sequencer_->rebase_reads();
    return {r.prefetched, r.ahead_summarized, r.learned_before_lock, r.summarized, r.read, r.rebases, r.rebase_ns};
  }
  std::string origin() const override { return signer_.name; }
  std::string verifier_key() const override {
    return integrity::VerifierKeyText(signer_.name, signer_.key.public_key());
  }

  Result<SignedCheckpoint> Checkpoint() override {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    // Sign what every node has acknowledged; when that cannot be read, what this node knows
    // (a checkpoint of a prefix is still true).
    if (store()->shared()) (void)CatchUpCommitted();
    const CommittedState state = sequencer_->committed();
    auto latest = LatestStoredCheckpoint();
    if (!latest.ok() && latest.status().code() != StatusCode::kNotFound) return latest.status();
    if (latest.ok() && latest->size <= state.size) {
      // Never sign (or hand out) a tree that does not extend what the log already signed.
      CAIRN_RETURN_IF_ERROR(CheckExtendsSigned(*latest, state));
      if (latest->size == state.size) {
        ObserveSigned(latest->size);
        return latest;
      }
    }
    if (latest.ok() && latest->size > state.size && store()->shared()) {
      ObserveSigned(latest->size);
      return latest;  // signed by another node, ahead of this node's view (verified above)
    }
    if (latest.ok() && latest->size > state.size) {
      return Status::DataLoss("the latest checkpoint (size " + std::to_string(latest->size) +
                              ") is ahead of the tree (size " + std::to_string(state.size) + ")");
    }
    integrity::Checkpoint cp{signer_.name, state.size, state.root, {}};
    CAIRN_ASSIGN_OR_RETURN(std::string note, integrity::SignCheckpoint(cp, signer_));
    CAIRN_RETURN_IF_ERROR(store()->PutCheckpoint(state.size, note));
    checkpoint_signed_ns_ = MonotonicNowNs();
    checkpoint_size_ = state.size;
    return SignedCheckpoint{state.size, state.root, std::move(note)};
  }

  // A checkpoint newer than this node's latest signing, signed by another node of a shared
  // store: the checkpoint gauges follow the log, not this node's own signings (a node whose
  // peers always sign first is not stuck), and the pacing counts it (checkpoint_mu_ held).
  void ObserveSigned(uint64_t size) {
    if (size <= checkpoint_size_.load()) return;
    checkpoint_size_ = size;
    checkpoint_signed_ns_ = MonotonicNowNs();
  }

  Result<SignedCheckpoint> CheckpointOnRequest() override {
    // Every append acknowledged before the request, by any node of a shared store.
    CAIRN_ASSIGN_OR_RETURN(const uint64_t want, CommittedSize(UINT64_MAX));
    // One paced signer at a time (requests and the checkpointer's ticks): those queued behind
    // a request usually find its checkpoint covers them.
    std::lock_guard<std::mutex> lock(paced_mu_);
    auto latest = LatestStoredCheckpoint();
    if (latest.ok() && latest->size >= want) return latest;
    const int64_t wait_ns = NsUntilNextPacedSigning();
    if (wait_ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait_ns));
    return Checkpoint();
  }

  // The checkpointer's tick: signs when the tree grew, unless a request signed within the
  // interval (paced signings stay an interval apart). Failures surface on the next explicit call.
  void CheckpointOnTick() {
    std::lock_guard<std::mutex> lock(paced_mu_);
    if (NsUntilNextPacedSigning() > 0) return;
    (void)Checkpoint();
  }

  // How long until checkpoint_interval_ms has passed since this process's latest signing (0 when
  // it has), at most the interval.
  int64_t NsUntilNextPacedSigning() const {
    const int64_t interval_ns = int64_t{options_.checkpoint_interval_ms} * 1'000'000;
    const int64_t wait_ns = checkpoint_signed_ns_.load() + interval_ns - MonotonicNowNs();
    return std::clamp<int64_t>(wait_ns, 0, interval_ns);
  }

  // The tree as committed extends the signed checkpoint `signed_cp` (size <= the tree's): the
  // same root at the same size, else a consistency proof from the stored nodes. A stored tree
  // state altered (or rolled back and re-grown) would otherwise get the log's key to sign a fork
  // (C2SP tlog-checkpoint: a log must never sign inconsistent checkpoints). kDataLoss.
  Status CheckExtendsSigned(const SignedCheckpoint& signed_cp, const CommittedState& state) {
    assert(signed_cp.size <= state.size);
    const std::string refused = "refusing to sign: the tree (size " + std::to_string(state.size) +
                                ") does not extend the signed checkpoint of size " +
                                std::to_string(signed_cp.size) +
                                "; the stored tree state was altered (run cairn verify)";
    if (signed_cp.size == state.size) {
      return signed_cp.root == state.root ? Status::Ok() : Status::DataLoss(refused);
    }
    if (signed_cp.size == 0) {
      return signed_cp.root == integrity::EmptyRoot() ? Status::Ok() : Status::DataLoss(refused);
    }
    StoreNodeReader reader(store(), &node_cache_);
    auto proof = integrity::ConsistencyProofBundle(reader, signed_cp.size, state.size);
    // A read that failed (a connection blip, an I/O error) says nothing about tampering.
    if (!proof.ok() && proof.status().code() != StatusCode::kDataLoss &&
        proof.status().code() != StatusCode::kNotFound) {
      return proof.status();
    }
    if (!proof.ok() || proof->root2 != state.root ||
        !integrity::VerifyConsistency(signed_cp.size, state.size, proof->proof, signed_cp.root,
                                      state.root)
             .ok()) {
      return Status::DataLoss(refused);
    }
    return Status::Ok();
  }

  Result<SignedCheckpoint> LatestStoredCheckpoint() override {
    CAIRN_ASSIGN_OR_RETURN(auto latest, store()->ReadLatestCheckpoint());
    if (!latest) return Status::NotFound("no checkpoint has been signed yet");
    CAIRN_ASSIGN_OR_RETURN(integrity::Checkpoint cp, integrity::VerifyCheckpoint(latest->second, verifier_));
    if (cp.size != latest->first) return Status::DataLoss("a stored checkpoint is filed under the wrong size");
    return SignedCheckpoint{cp.size, cp.root, std::move(latest->second)};
  }

  Result<InclusionProof> ProveInclusion(uint64_t index, uint64_t size) override {
    // size 0: the latest tree, as of every node's acknowledged appends.
    CAIRN_ASSIGN_OR_RETURN(const uint64_t committed, CommittedSize(size == 0 ? UINT64_MAX : size));
    if (size == 0) size = committed;
    if (size > committed) return Status::InvalidArgument("tree size " + std::to_string(size) + " is beyond the log (size " + std::to_string(committed) + ")");
    if (index >= size) return Status::InvalidArgument("position " + std::to_string(index) + " is not in a tree of size " + std::to_string(size));
    StoreNodeReader reader(store(), &node_cache_);
    CAIRN_ASSIGN_OR_RETURN(integrity::InclusionBundle b, integrity::InclusionProofBundle(reader, index, size));
    return InclusionProof{index, size, b.leaf_hash, b.root, std::move(b.proof)};
  }

  Result<std::vector<InclusionProof>> ProveInclusions(std::span<const uint64_t> indexes,
                                                      uint64_t size) override {
    CAIRN_ASSIGN_OR_RETURN(const uint64_t committed, CommittedSize(size == 0 ? UINT64_MAX : size));
    if (size == 0) size = committed;
    if (size > committed) return Status::InvalidArgument("tree size " + std::to_string(size) + " is beyond the log (size " + std::to_string(committed) + ")");
    for (const uint64_t index : indexes) {
      if (index >= size) return Status::InvalidArgument("position " + std::to_string(index) + " is not in a tree of size " + std::to_string(size));
    }
    StoreNodeReader store_reader(store(), &node_cache_);
    MemoNodeReader reader(&store_reader);  // nearby proofs share their nodes
    std::vector<InclusionProof> proofs;
    proofs.reserve(indexes.size());
    for (const uint64_t index : indexes) {
      CAIRN_ASSIGN_OR_RETURN(integrity::InclusionBundle b, integrity::InclusionProofBundle(reader, index, size));
      proofs.push_back(InclusionProof{index, size, b.leaf_hash, b.root, std::move(b.proof)});
    }
    return proofs;
  }

  Result<ConsistencyProof> ProveConsistency(uint64_t size1, uint64_t size2) override {
    CAIRN_ASSIGN_OR_RETURN(const uint64_t committed, CommittedSize(size2 == 0 ? UINT64_MAX : size2));
    if (size2 == 0) size2 = committed;
    if (size1 == 0 || size1 > size2 || size2 > committed) {
      return Status::InvalidArgument("consistency needs 0 < size1 <= size2 <= " + std::to_string(committed));
    }
    StoreNodeReader reader(store(), &node_cache_);
    CAIRN_ASSIGN_OR_RETURN(integrity::ConsistencyBundle b,
                           integrity::ConsistencyProofBundle(reader, size1, size2));
    return ConsistencyProof{size1, size2, b.root1, b.root2, std::move(b.proof)};
  }

  VerifyReport Verify() override { return VerifyLog(store(), keys_.get(), verifier_); }
  VerifyReport VerifyPaced(const VerifyPacing& pacing) override {
    return VerifyLogPrefix(store(), keys_.get(), verifier_, sequencer_->committed().size, pacing);
  }
  VerifyReport VerifyRange(uint64_t from, uint64_t to) override {
    // The scrub asks only for what this node's commit observers reported: no catch-up here.
    if (to > sequencer_->committed().size) {
      VerifyReport r;
      r.failure = "range ends beyond the committed log";
      return r;
    }
    return VerifyLogRange(store(), keys_.get(), verifier_, from, to);
  }

 private:
  // Backup's copy into `dir` (made), after a checkpoint of `signed_size` was signed.
  Result<BackupResult> CopyInto(const std::string& dir, uint64_t signed_size);
  // Shared stores: other nodes' commits wake this node's subscribers; their forgets evict this
  // node's cached subject keys; after missed notifications both are redone.
  void ListenToOtherNodes() {
    storage::ChangeListener l;
    // A catch-up that fails here is redone by the next notification, commit or read.
    l.on_commit = [this](uint64_t) { (void)CatchUpCommitted(); };
    l.on_key_destroyed = [this](std::string_view) { protection_->ForgetCachedKeys(); };
    l.on_resync = [this] {
      protection_->ForgetCachedKeys();
      // Right after an outage the pool may still be backing off (up to 2 s): a few tries, so
      // that this node's subscribers do not wait for the next commit anywhere. Bounded: this is
      // the listener's thread.
      for (int attempt = 0; attempt < kResyncCatchUpAttemptsMax && !CatchUpCommitted().ok(); ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(kResyncCatchUpRetryMs));
      }
    };
    store()->SetChangeListener(std::move(l));
    // A commit announced between the sequencer's first read and the line above went unheard.
    (void)CatchUpCommitted();
  }
  static constexpr int kResyncCatchUpAttemptsMax = 8;
  static constexpr int kResyncCatchUpRetryMs = 250;

  // A stream's head as stored. On a shared store the head may come from another node's commit
  // that is not durable yet (its lock is released before its sync; storage/log_store.h): only a
  // head within this node's committed log (durable) is answered from. Beyond it, the node catches
  // up (which makes what it finds durable) and reads the head again — the first read may even
  // have come from a commit that a restart of the database lost.
  Result<std::optional<storage::StreamHead>> ReadDurableStreamHead(std::string_view stream_id) {
    for (int attempt = 0; attempt < kDurableHeadReadsMax; ++attempt) {
      CAIRN_ASSIGN_OR_RETURN(std::optional<storage::StreamHead> head, store()->ReadStreamHead(stream_id));
      if (!head || head->next_version == 0 || !store()->shared()) return head;
      if (head->last_position < sequencer_->committed().size) return head;
      CAIRN_RETURN_IF_ERROR(CommittedSize(head->last_position + 1).status());
    }
    return Status::Unavailable("the stream's latest commit could not be confirmed; retry the read");
  }

  // The committed tree size; on a shared store, first caught up with other nodes' commits when
  // `wanted` lies beyond it (their notification may still be on its way).
  // An error when that catch-up cannot read the shared state: a read must not take this node's
  // older view for the end of the log (it would end early and say it reached the end).
  Result<uint64_t> CommittedSize(uint64_t wanted) {
    if (store()->shared() && wanted > sequencer_->committed().size) {
      CAIRN_RETURN_IF_ERROR(CatchUpCommitted());
    }
    return sequencer_->committed().size;
  }

  Status CatchUpCommitted() {
    CAIRN_ASSIGN_OR_RETURN(storage::TreeState state, store()->ReadTreeStateWithSummary());
    if (state.size == 0) return Status::Ok();
    auto tree = integrity::CompactRange::Deserialize(state.compact_range);
    if (!tree.ok() || tree->size() != state.size) {
      return Status::DataLoss("the stored tree state does not parse (run cairn verify)");
    }
    if (sequencer_->AdvanceCommitted({state.size, tree->Root()}, &state)) NotifyObservers(state.size);
    return Status::Ok();
  }

  // Observers see strictly increasing sizes: on a shared store a catch-up on a reader or the
  // listener thread may race with this node's own commit notifications.
  void NotifyObservers(uint64_t tree_size) {
    std::lock_guard<std::mutex> lock(observers_mu_);
    if (tree_size <= notified_size_) return;
    notified_size_ = tree_size;
    for (const auto& [handle, observer] : observers_) observer(tree_size);
  }

  storage::LogStore* store() const { return parts_.store.get(); }

  // The metrics read at scrape time. `live` false (at destruction): replaced by their last
  // values, because the registry outlives the store and must not call into a destroyed one.
  void PublishScrapeMetrics(bool live) {
    audit::MetricsRegistry* r = options_.metrics;
    if (r == nullptr || (!live && !published_)) return;
    published_ = live;
    auto gauge = [&](std::string_view name, std::string_view help, std::function<double()> f) {
      if (!live) f = [v = f()] { return v; };
      r->GaugeFunction(name, help, {}, std::move(f));
    };
    auto counter = [&](std::string_view name, std::string_view help, std::function<uint64_t()> f) {
      if (!live) f = [v = f()] { return v; };
      r->CounterFunction(name, help, {}, std::move(f));
    };
    gauge("cairn_tree_size", "Events in the log (the Merkle tree size), committed.",
          [this] { return static_cast<double>(sequencer_->committed().size); });
    gauge("cairn_checkpoint_age_seconds",
          "Seconds since the latest checkpoint was signed (since start when signed before).",
          [this] { return static_cast<double>(MonotonicNowNs() - checkpoint_signed_ns_) * 1e-9; });
    gauge("cairn_checkpoint_tree_size", "Tree size the latest signed checkpoint covers.",
          [this] { return static_cast<double>(checkpoint_size_.load()); });
    counter("cairn_key_cache_hits_total", "Subject-key cache lookups that found the key.",
            [this] { return protection_->subject_keys().cache_stats().hits; });
    counter("cairn_key_cache_misses_total",
            "Subject-key cache lookups that missed (the key was unwrapped by the KMS).",
            [this] { return protection_->subject_keys().cache_stats().misses; });
  }

  // Protected appends need the KMS (new subject keys, and data that must stay readable after a
  // restart): they fail with kUnavailable while the provider reports unhealthy.
  Status CheckKmsFor(const std::vector<ProposedEvent>& events) {
    for (const ProposedEvent& e : events) {
      if (protection_->IsProtected(e.event_type)) return kms_gate_->Check();
    }
    return Status::Ok();
  }

  // Detects a torn or partial tail: the committed tree state must end exactly at the last record.
  Status CheckTail() {
    const CommittedState state = sequencer_->committed();
    std::optional<uint64_t> beyond;
    CAIRN_RETURN_IF_ERROR(store()->ScanRecords(state.size, 1, [&](uint64_t pos, std::string_view) {
      beyond = pos;
      return false;
    }));
    if (beyond && store()->shared()) {
      // Another node may have committed since this node read the tree: a PostgreSQL commit
      // writes its records and the tree in one transaction, so only a record beyond the tree
      // as it stands now is out of place.
      CAIRN_ASSIGN_OR_RETURN(storage::TreeState now, store()->ReadTreeState());
      if (*beyond < now.size) beyond.reset();
    }
    if (beyond) {
      return Status::DataLoss("a record at position " + std::to_string(*beyond) +
                                  " lies beyond the committed tree (size " +
                                  std::to_string(state.size) + "); run `cairn verify` to examine the log",
                              static_cast<int64_t>(*beyond));
    }
    if (state.size > 0) {
      auto last = ReadAt(state.size - 1);
      if (!last.ok()) {
        return Status::DataLoss("the last committed record (position " +
                                    std::to_string(state.size - 1) + ") is missing or unreadable (" +
                                    last.status().message() + "); run `cairn verify`",
                                static_cast<int64_t>(state.size - 1));
      }
    }
    return CheckSignedTail(state);
  }

  // The log must hold what it signed: a signed checkpoint beyond the tree, or of another tree
  // at its size, means events it covers were cut off or rewritten (with the tree state rebuilt
  // from the stored nodes, the records alone look whole). Appending then would fork what was
  // signed, so the store is not opened.
  Status CheckSignedTail(const CommittedState& state) {
    auto latest = LatestStoredCheckpoint();
    if (!latest.ok()) {
      if (latest.status().code() == StatusCode::kNotFound) return Status::Ok();
      return latest.status().Annotate("the latest signed checkpoint");
    }
    uint64_t size = state.size;
    if (store()->shared()) {  // another node may have signed beyond this node's view
      CAIRN_ASSIGN_OR_RETURN(storage::TreeState now, store()->ReadTreeState());
      size = std::max(size, now.size);
    }
    if (latest->size > size) {
      return Status::DataLoss("a signed checkpoint covers " + std::to_string(latest->size) +
                                  " events but the log holds " + std::to_string(size) +
                                  ": its tail was cut off; run `cairn verify`",
                              static_cast<int64_t>(size));
    }
    if (latest->size > state.size) return Status::Ok();  // another node's, verified there
    return CheckExtendsSigned(*latest, state);
  }

  void RunCheckpointer() {
    std::unique_lock<std::mutex> lock(stop_mu_);
    while (!stop_) {
      stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.checkpoint_interval_ms));
      if (stop_) break;
      lock.unlock();
      CheckpointOnTick();
      if (protection_) protection_->DropExpiredKeys();
      lock.lock();
    }
  }

  void StopCheckpointer() {
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      stop_ = true;
    }
    stop_cv_.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
  }

  const Options options_;
  const EngineMetrics metrics_;
  std::atomic<int64_t> checkpoint_signed_ns_{0};  // MonotonicNowNs() of the latest signing
  std::atomic<uint64_t> checkpoint_size_{0};      // tree size of the latest checkpoint
  bool published_ = false;  // PublishScrapeMetrics(true) ran: the registry calls into this store
  OpenParts parts_;
  std::unique_ptr<keys::StorageKeys> keys_;
  integrity::NoteSigner signer_;
  integrity::NoteVerifier verifier_;
  std::unique_ptr<FieldProtection> protection_;
  // Non-empty: this open's rules differ from the recorded ones and it must match them (every
  // client append is refused with this message).
  std::string protect_rules_mismatch_;
  std::unique_ptr<keys::KmsHealthGate> kms_gate_;
  std::shared_mutex kek_rotation_mu_;  // RotateKek (exclusive), PutComponentSecret and Backup (shared)
  std::mutex backup_mu_;               // one Backup at a time
  std::unique_ptr<Sequencer> sequencer_;
  std::unique_ptr<ProtectQueue> protect_queue_;  // AppendAsync's protected appends; before sequencer_ stops
  std::mutex observers_mu_;
  std::map<uint64_t, std::function<void(uint64_t)>> observers_;  // guarded by observers_mu_
  uint64_t observer_handle_last_ = 0;                             // guarded by observers_mu_
  uint64_t notified_size_ = 0;                                    // guarded by observers_mu_
  NodeCache node_cache_;
  std::mutex checkpoint_mu_;
  std::mutex paced_mu_;  // CheckpointOnRequest and CheckpointOnTick: one at a time (before checkpoint_mu_)
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread checkpointer_;
};

std::string DefaultOrigin() { return "cairn.local/" + HexEncode(crypto::RandomString(8)); }

}  // namespace

Result<std::vector<InclusionProof>> EventStore::ProveInclusions(std::span<const uint64_t> indexes,
                                                                uint64_t size) {
  std::vector<InclusionProof> proofs;
  proofs.reserve(indexes.size());
  for (const uint64_t index : indexes) {
    CAIRN_ASSIGN_OR_RETURN(InclusionProof proof, ProveInclusion(index, size));
    size = proof.size;  // the first fixes the tree for the rest
    proofs.push_back(std::move(proof));
  }
  return proofs;
}

Status EventStore::Init(const InitOptions& options) {
  DataDirPaths paths(options.data_dir);
  const std::string origin = options.origin.empty() ? DefaultOrigin() : options.origin;
  if (!integrity::IsValidNoteKeyName(origin)) {
    return Status::InvalidArgument("origin must be non-empty text without spaces or '+'");
  }
  StoreLocation where;
  where.postgres = options.postgres;
  CAIRN_ASSIGN_OR_RETURN(OpenParts parts, OpenParts_(paths, /*create=*/true, where, options.kms));
  storage::LogStore* store = parts.store.get();
  CAIRN_RETURN_IF_ERROR(RecordKms(store, *parts.kms));
  CAIRN_RETURN_IF_ERROR(keys::StorageKeys::Initialize(store, parts.kms.get()));
  CAIRN_RETURN_IF_ERROR(keys::SubjectKeys::CreateSalt(store));
  CAIRN_ASSIGN_OR_RETURN(crypto::Ed25519PrivateKey key, crypto::Ed25519PrivateKey::Generate());
  CAIRN_ASSIGN_OR_RETURN(std::string wrapped, parts.kms->Wrap(key.seed().view(), kCheckpointKeyName));
  CAIRN_RETURN_IF_ERROR(store->PutKeyMaterial(kCheckpointKeyName, wrapped));
  CAIRN_RETURN_IF_ERROR(store->PutMeta(kMetaOrigin, origin));
  // The checkpoint of the empty tree: every later checkpoint must be consistent with it.
  integrity::NoteSigner signer{origin, std::move(key)};
  integrity::Checkpoint cp{origin, 0, integrity::EmptyRoot(), {}};
  CAIRN_ASSIGN_OR_RETURN(std::string note, integrity::SignCheckpoint(cp, signer));
  CAIRN_RETURN_IF_ERROR(store->PutCheckpoint(0, note));
  return store->PutMeta(kMetaInitialized, "1");
}

namespace {

struct LoadedDir {
  OpenParts parts;
  std::unique_ptr<keys::StorageKeys> keys;
  std::optional<integrity::NoteSigner> signer;
};

Result<LoadedDir> LoadDataDir(const std::string& data_dir, const StoreLocation& where,
                              const keys::KmsConfig& kms,
                              audit::MetricsRegistry* metrics = nullptr) {
  DataDirPaths paths(data_dir);
  LoadedDir d;
  CAIRN_ASSIGN_OR_RETURN(d.parts, OpenParts_(paths, /*create=*/false, where, kms));
  d.parts.kms = MeterKms(std::move(d.parts.kms), metrics);  // before any key is unwrapped
  storage::LogStore* store = d.parts.store.get();
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> initialized, store->ReadMeta(kMetaInitialized));
  if (!initialized) {
    return Status::FailedPrecondition("data directory " + paths.dir +
                                      " was not completely initialised; remove it and run `cairn init` again");
  }
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> origin, store->ReadMeta(kMetaOrigin));
  if (!origin) return Status::DataLoss("the log origin is missing");
  CAIRN_ASSIGN_OR_RETURN(d.keys, keys::StorageKeys::Load(store, d.parts.kms.get()));
  CAIRN_ASSIGN_OR_RETURN(integrity::NoteSigner signer, LoadSigner(store, d.parts.kms.get(), *origin));
  d.signer.emplace(std::move(signer));
  return d;
}

// The checkpoint key of a loaded directory, as a verifier.
integrity::NoteVerifier CheckpointVerifier(const integrity::NoteSigner& signer) {
  return integrity::NoteVerifier{signer.name, integrity::NoteKeyId(signer.name, signer.key.public_key()),
                                 signer.key.public_key()};
}

// What a data directory holds when `where` opens it: verified in full, with its sizes.
struct Examined {
  VerifyReport report;
  uint64_t tree_size = 0;
  uint64_t checkpoint_size = 0;
};

Result<Examined> ExamineDataDir(const std::string& data_dir, const StoreLocation& where,
                                const keys::KmsConfig& kms) {
  CAIRN_ASSIGN_OR_RETURN(LoadedDir d, LoadDataDir(data_dir, where, kms));
  storage::LogStore* store = d.parts.store.get();
  Examined e;
  CAIRN_ASSIGN_OR_RETURN(const storage::TreeState state, store->ReadTreeState());
  e.tree_size = state.size;
  CAIRN_ASSIGN_OR_RETURN(const auto latest, store->ReadLatestCheckpoint());
  if (latest) e.checkpoint_size = latest->first;
  e.report = VerifyLog(store, d.keys.get(), CheckpointVerifier(*d.signer));
  return e;
}

// "wal-recovery-20261205T093000Z": where `cairn recover` keeps the WAL files it is about to drop.
std::string WalCopyDirName() { return "wal-recovery-" + NowUtcCompact(); }

// Opens the directory once with point-in-time recovery for writing (RocksDB writes the replayed
// state and retires the damaged WAL), then examines it as a normal open sees it.
Status ApplyRecovery(const std::string& data_dir, const keys::KmsConfig& kms, uint64_t tree_size) {
  StoreLocation write;
  write.point_in_time_recovery = true;
  CAIRN_RETURN_IF_ERROR(LoadDataDir(data_dir, write, kms).status().Annotate("opening with point-in-time recovery"));
  StoreLocation strict;
  strict.read_only = true;
  auto after = ExamineDataDir(data_dir, strict, kms);
  if (!after.ok()) return after.status().Annotate("the recovered store does not open");
  if (!after->report.ok) return Status::DataLoss("the recovered store fails verification: " + after->report.failure);
  if (after->tree_size != tree_size) {
    return Status::DataLoss("the recovered store holds " + std::to_string(after->tree_size) +
                            " events, not the " + std::to_string(tree_size) + " examined");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<EventStore>> EventStore::Open(const Options& options) {
  CAIRN_RETURN_IF_ERROR(ValidateLimits(options.limits).Annotate("limits"));
  StoreLocation where;
  where.sync = options.sync;
  where.env_for_test = options.rocks_env_for_test;
  where.postgres = options.postgres;
  CAIRN_ASSIGN_OR_RETURN(LoadedDir d,
                         LoadDataDir(options.data_dir, where, options.kms, options.metrics));
  {
    storage::LogStore* store = d.parts.store.get();
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> unproven, store->ReadMeta(kMetaUnprovenCopy));
    if (unproven && !unproven->empty() && !options.open_unproven_copy) {
      return Status::FailedPrecondition(
          "the database holds a copy made by `cairn migrate` whose proof never finished (the "
          "migration was interrupted): drop its cairn_* tables and run the migration again");
    }
    CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> recorded, store->ReadMeta(kMetaKmsProvider));
    if (!recorded) CAIRN_RETURN_IF_ERROR(RecordKms(store, *d.parts.kms));  // made before the record
  }
  if (options.wrap_store_for_test) {
    d.parts.store = options.wrap_store_for_test(std::move(d.parts.store));
  }
  auto impl = std::make_unique<EventStoreImpl>(options, std::move(d.parts), std::move(d.keys),
                                               std::move(*d.signer));
  CAIRN_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<EventStore>(std::move(impl));
}

Result<BackupResult> EventStoreImpl::Backup(const std::string& dir_arg) {
  namespace fs = std::filesystem;
  // Absolute and without a trailing '/', so that its parent is the directory that names it.
  std::error_code ec;
  fs::path normal = fs::absolute(dir_arg, ec).lexically_normal();
  if (ec) return Status::IOError("cannot resolve the backup directory: " + ec.message());
  if (!normal.has_filename()) normal = normal.parent_path();
  const std::string dir = normal.string();
  if (store()->shared()) {
    return Status::FailedPrecondition(
        "a PostgreSQL log is backed up with the database's own backups (docs/deployment.md)");
  }
  // One backup at a time: each holds RocksDB's file deletions off while it copies.
  std::unique_lock<std::mutex> one(backup_mu_, std::try_to_lock);
  if (!one.owns_lock()) return Status::Aborted("another backup is being made; retry when it ends");
  // Not during a KEK rotation: every key in the copy is wrapped under one KEK, the one recorded.
  std::shared_lock<std::shared_mutex> kek(kek_rotation_mu_);
  if (!fs::create_directory(dir, ec)) {
    if (!ec) return Status::AlreadyExists("the backup directory already exists: " + dir);
    return Status::IOError("cannot create the backup directory: " + ec.message());
  }
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  // Sign what is committed now: the copy, made after it, holds this checkpoint or a later one.
  Result<SignedCheckpoint> signed_first = ec ? Result<SignedCheckpoint>(Status::IOError(
                                                   "cannot restrict the backup directory: " + ec.message()))
                                             : Checkpoint();
  Result<BackupResult> made = signed_first.ok() ? CopyInto(dir, signed_first->size)
                                                : Result<BackupResult>(signed_first.status());
  // The backup directory's own name, durable before the backup is reported made.
  if (made.ok()) {
    if (Status synced = crypto::SyncDirectory(normal.parent_path().string()); !synced.ok()) {
      made = synced;
    }
  }
  if (!made.ok()) fs::remove_all(dir, ec);  // never leave a directory that looks like a backup
  if (made.ok()) made->kek_id = parts_.kms->kek_id();
  return made;
}

Result<BackupResult> EventStoreImpl::CopyInto(const std::string& dir, uint64_t signed_size) {
  CAIRN_ASSIGN_OR_RETURN(storage::BackupFacts facts, store()->CreateBackup(DataDirPaths(dir).db));
  if (facts.checkpoint_size < signed_size || facts.checkpoint_size > facts.tree_size) {
    return Status::Internal("the backup's latest checkpoint (size " +
                            std::to_string(facts.checkpoint_size) + ") is not the one signed for it");
  }
  CAIRN_ASSIGN_OR_RETURN(integrity::Checkpoint cp,
                         integrity::VerifyCheckpoint(facts.checkpoint_note, verifier_));
  if (cp.size != facts.checkpoint_size) {
    return Status::Internal("the backup's checkpoint note is not of the size stored with it");
  }
  CAIRN_RETURN_IF_ERROR(
      crypto::WritePrivateFile(dir + "/" + kBackupCheckpointFile, facts.checkpoint_note));
  return BackupResult{dir, facts.tree_size, facts.checkpoint_size, std::move(facts.checkpoint_note), ""};
}

VerifyReport EventStore::VerifyDataDir(const std::string& data_dir, const keys::KmsConfig& kms,
                                       const std::optional<storage::PgOptions>& postgres,
                                       const VerifyAnchor& anchor) {
  VerifyReport refused;
  std::optional<integrity::NoteVerifier> pinned;
  std::optional<integrity::Checkpoint> trusted;
  if (!anchor.verifier_key.empty()) {
    auto key = integrity::ParseVerifierKey(anchor.verifier_key);
    if (!key.ok()) {
      refused.failure = "the pinned verifier key is not one: " + key.status().message();
      return refused;
    }
    pinned = std::move(key).value();
  }
  if (!anchor.trusted_checkpoint.empty()) {
    if (!pinned) {
      refused.failure = "a trusted checkpoint needs the pinned verifier key it is signed under";
      return refused;
    }
    auto cp = integrity::VerifyCheckpoint(anchor.trusted_checkpoint, *pinned);
    if (!cp.ok()) {
      refused.failure = "the trusted checkpoint does not verify under the pinned key: " + cp.status().message();
      return refused;
    }
    trusted = std::move(cp).value();
  }
  StoreLocation where;
  where.read_only = true;  // examining a damaged directory must not change it
  where.postgres = postgres;
  if (where.postgres) {
    where.postgres->listen = false;
    where.postgres->read_only = true;  // no migration, no key purge, READ ONLY sessions
  }
  auto d = LoadDataDir(data_dir, where, kms);
  if (!d.ok()) {
    VerifyReport r;
    r.failure = "cannot open the data directory: " + d.status().message();
    return r;
  }
  const integrity::NoteVerifier own = CheckpointVerifier(*d->signer);
  if (pinned && (pinned->name != own.name || pinned->public_key != own.public_key)) {
    refused.failure = "the data directory's checkpoint signing key is not the pinned verifier key "
                      "(the directory was re-keyed or replaced)";
    return refused;
  }
  storage::LogStore* store = d->parts.store.get();
  const integrity::NoteVerifier& key = pinned ? *pinned : own;
  const integrity::Checkpoint* anchor_cp = trusted ? &*trusted : nullptr;
  VerifyReport r;
  if (store->shared()) {
    // Other nodes may append meanwhile: the log as it is when the run starts, which later commits
    // must extend (not a false "record missing" for an event committed during the run).
    auto state = store->ReadTreeState();
    if (!state.ok()) {
      refused.failure = "cannot read the tree state: " + state.status().message();
      return refused;
    }
    r = VerifyLogUpTo(store, d->keys.get(), key, state->size, anchor_cp);
  } else {
    r = VerifyLog(store, d->keys.get(), key, anchor_cp);
  }
  r.key_pinned = r.ok && pinned.has_value();
  if (r.ok && trusted) r.anchored_size = trusted->size;
  return r;
}

RecoveryReport EventStore::RecoverDataDir(const std::string& data_dir, const keys::KmsConfig& kms,
                                          bool apply) {
  RecoveryReport r;
  StoreLocation strict;
  strict.read_only = true;  // nothing is written until the operator has seen what is kept
  {
    auto d = LoadDataDir(data_dir, strict, kms);
    if (d.ok()) return r;  // RocksDB replays the WAL as it is: nothing to recover
    r.open_failure = d.status().message();
  }
  StoreLocation point_in_time = strict;
  point_in_time.point_in_time_recovery = true;
  auto examined = ExamineDataDir(data_dir, point_in_time, kms);
  if (!examined.ok()) {
    r.recovered.failure = "cannot open even with point-in-time recovery: " + examined.status().message();
    return r;
  }
  r.recovered = examined->report;
  r.tree_size = examined->tree_size;
  r.checkpoint_size = examined->checkpoint_size;
  if (!apply || !r.recovered.ok) return r;
  const DataDirPaths paths(data_dir);
  r.wal_copy_dir = paths.dir + "/" + WalCopyDirName();
  if (Status s = storage::CopyRocksWalFiles(paths.db, r.wal_copy_dir, &r.wal_files_copied); !s.ok()) {
    r.apply_failure = "copying the WAL files: " + s.message();
    return r;
  }
  if (Status s = ApplyRecovery(data_dir, kms, r.tree_size); !s.ok()) {
    r.apply_failure = s.message();
    return r;
  }
  r.applied = true;
  return r;
}

}  // namespace cairn::engine
