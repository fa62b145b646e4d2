// EventStore: the one place an append or a read is orchestrated (DESIGN.md, engine/).
//
// An EventStore owns an open data directory: the exclusive directory lock, the LogStore, the KMS
// provider, the storage keys and the checkpoint signing key. Appends from any number of threads
// are queued to one sequencer thread that checks expected versions, assigns positions, builds
// entries, leaf hashes, stream chains and the Merkle compact range, encrypts records at rest and
// commits every queued batch in one storage transaction with one sync (group commit). Append()
// returns only after its batch is durable, or with an error. A validation error, a conflict or
// an abort before the commit wrote nothing; after a failed commit (kCommitFailedText, sequencer.h)
// the storage may hold the whole batch or none of it, and a re-send with the same event ids
// settles which (idempotent: appended at most once).
//
// Data directory layout: <dir>/cairn.lock (flock), <dir>/keyring (local KMS, 0600, unless the
// configuration names another keyring or the pkcs11 provider), <dir>/db (RocksDB). Open() fails
// with kUnavailable naming the holder if another process holds the lock.
//
// KMS provider: Init records in the store which provider (kind) and KEK (kek id) wrap the
// directory's keys; Open() refuses, with kFailedPrecondition naming both, a configuration that
// selects another provider kind or a provider that does not hold the recorded KEK. A directory
// made before this was recorded gets the record at its next Open().
//
// Thread safety: every method is safe to call concurrently. Destruction drains queued appends.
// Errors: see each method; validation errors are kInvalidArgument / kResourceExhausted and write
// nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/secure.h"
#include "engine/types.h"
#include "keys/kms_config.h"
#include "storage/log_store.h"
#include "storage/postgres/pg_log_store.h"

namespace rocksdb {
class Env;
}
namespace cairn::keys {
class KmsProvider;
}
namespace cairn::audit {
class MetricsRegistry;
}

namespace cairn::engine {

struct InitOptions {
  std::string data_dir;
  // Checkpoint origin (C2SP log name). Empty: "cairn.local/<random id>".
  std::string origin;
  // The KMS provider ([keys]); local with <data_dir>/keyring by default. Init creates the keyring
  // (local) or the KEK on the token when no key has the label (pkcs11).
  keys::KmsConfig kms;
  // Set: the log lives in this PostgreSQL database instead of <data_dir>/db; the data directory
  // keeps the node's lock and (local KMS) the keyring. kAlreadyExists if the database has a log.
  std::optional<storage::PgOptions> postgres;
};

// Metadata that `cairn migrate` sets in a copy until the copy is proven (non-empty: unproven).
inline constexpr std::string_view kMetaUnprovenCopy = "unproven_copy";

struct Options {
  std::string data_dir;
  Limits limits;
  // Group commit: at most this many events (and 64 MiB) per storage transaction. Beyond
  // queue_appends_max pending appends (or 256 MiB of pending event bytes), Append() waits
  // (back-pressure) and AppendAsync() answers kUnavailable.
  size_t group_events_max = 4000;
  size_t queue_appends_max = 4096;
  // How long Append() and DeleteStream() wait for room in a full queue before they answer
  // kUnavailable (nothing written): a caller on a server request thread must not be held for as
  // long as other writers keep the queue full. AppendSystem() (the audit trail, alerts, parked
  // events) waits for as long as it takes, so that their records are not lost.
  int64_t queue_wait_ms_max = 10000;
  // Events appended in this window can be re-sent idempotently (by event id).
  size_t idempotency_window_events = 100000;
  // Records encrypted under one storage key before it is rotated automatically (< 2^32).
  uint64_t storage_key_encryptions_max = uint64_t{1} << 31;
  // Sign a checkpoint in the background when the tree has grown; 0 = only on request.
  uint32_t checkpoint_interval_ms = 0;
  // Durability: false only for benchmarks that measure the cost of sync itself.
  bool sync = true;
  // The KMS provider ([keys]); must be the one the directory was initialised with.
  keys::KmsConfig kms;
  // Set: open the log in this PostgreSQL database (several nodes may share it; each needs the
  // same KMS keys, e.g. a copy of the keyring). The data directory is created if missing.
  std::optional<storage::PgOptions> postgres;
  // Appends of protected event types first check the provider's health, at most this often
  // (a failed check is remembered as long): an unavailable KMS fails them with kUnavailable.
  int64_t kms_health_interval_ms = 1000;
  // Field protection (protect/): the rules file; empty = no protected event types.
  std::string protect_rules_file;
  // Every open records the digest of its rules (protect::RuleSet::DigestHex) in the store. When
  // set, an open whose rules differ from the recorded ones records nothing and refuses every client
  // append (kFailedPrecondition; reads, key acts and system appends go on): for the offline
  // commands, which must not append personal data in the clear because they read another
  // configuration than the server (docs/data-protection.md).
  bool protect_rules_must_match_recorded = false;
  // Open() refuses a log whose metadata kMetaUnprovenCopy is set (a `cairn migrate` copy whose
  // proof never finished) unless this is set: only migrate's own proof opens such a copy.
  bool open_unproven_copy = false;
  // AppendAsync protects the events of protected types on these threads, not on the caller's
  // (a gRPC callback thread, which every callback-API call of the server shares): a new subject's
  // key costs a KMS wrap and a durable put, a key not in the cache a KMS unwrap. Each stream's
  // appends keep their order (one thread per stream; engine/protect_queue.h). At most
  // protect_queue_appends_max appends and protect_queue_bytes_max bytes of events wait for them;
  // beyond either, AppendAsync answers kUnavailable at once (nothing written; retry).
  size_t protect_threads = 4;
  size_t protect_queue_appends_max = 1024;
  uint64_t protect_queue_bytes_max = uint64_t{64} << 20;
  // The cache of unwrapped subject keys.
  size_t subject_key_cache_entries_max = 10000;
  int64_t subject_key_cache_ttl_ms = 300000;
  // Metrics (engine/engine_metrics.h, engine/metered_kms.h): appends, group commits, KMS calls,
  // key-cache hits, tree size, checkpoint age. Not owned; must outlive the store. nullptr = off.
  audit::MetricsRegistry* metrics = nullptr;
  // Test hook (fault injection): wraps the opened LogStore. Never set in production code.
  std::function<std::unique_ptr<storage::LogStore>(std::unique_ptr<storage::LogStore>)>
      wrap_store_for_test;
  // Test hook (fault injection below the store): the RocksDB Env the store runs on, e.g. one over
  // a FileSystem that fails writes or fsyncs (storage::RocksOptions::env_for_test). Never set in
  // production code.
  std::shared_ptr<rocksdb::Env> rocks_env_for_test;
};

// One key of `cairn keys list`: a storage epoch or a subject key version. Never names a subject
// in clear: subject keys carry only the salted hash of the subject (subject_hash_hex).
struct KeyInfo {
  std::string kind;              // "storage" or "subject"
  std::string id;                // the epoch number (storage) or the kid (subject)
  uint32_t version = 0;          // the epoch number (storage) or the key version, 1.. (subject)
  int64_t created_unix_s = 0;    // 0 when not recorded (storage epochs)
  std::string subject_hash_hex;  // subject keys only
  bool current = false;          // the key new writes use
};

// One page of a key listing (EventStore::ListKeys).
struct KeyPage {
  std::vector<KeyInfo> keys;
  std::string next_page_token;  // empty: the listing is complete
};
inline constexpr size_t kKeyPageKeysMax = 10000;

// What a backup holds (EventStore::Backup, `cairn backup`).
struct BackupResult {
  std::string path;              // the backup directory
  uint64_t tree_size = 0;        // events in the copy
  uint64_t checkpoint_size = 0;  // the tree size of its latest signed checkpoint
  std::string checkpoint_note;   // that checkpoint, verified under this log's key
  std::string kek_id;            // the KEK its keys are wrapped under (needed to restore it)
};
inline constexpr char kBackupCheckpointFile[] = "checkpoint.note";

// The result of a KEK rotation (`cairn keys rotate --kek`).
struct KekRotation {
  std::string kek_id;      // the KEK everything is wrapped under now
  uint64_t rewrapped = 0;  // subject keys, storage epochs, checkpoint key, secrets re-wrapped
  bool resumed = false;    // finished an interrupted rotation instead of starting a new one
  // The older KEK versions were kept, not retired: the log is shared with other nodes, which go
  // on wrapping under the version they loaded until they restart (docs/data-protection.md).
  bool old_kek_kept = false;
  // Component secrets no KEK version opened (keys/component_secrets.h); when > 0 the older
  // versions are kept too (old_kek_kept), and the call logs each one's name.
  uint64_t unreadable_secrets = 0;
};

// A summary of a full verification.
struct VerifyReport {
  bool ok = false;
  uint64_t records_checked = 0;
  uint64_t streams_checked = 0;
  uint64_t checkpoints_checked = 0;
  uint64_t nodes_checked = 0;          // stored interior Merkle nodes compared with their leaves
  uint64_t index_entries_checked = 0;  // stream index entries compared with the records
  // When !ok: the first bad position (if the failure has one) and what failed.
  std::optional<uint64_t> bad_position;
  std::string failure;
  // The run was stopped (VerifyPacing::between_chunks returned false) before it finished: not a
  // verdict on the log; ok is false and failure says "stopped".
  bool stopped = false;
  // When ok: the recomputed root of the records_checked events, and the latest stored checkpoint
  // (its signed note; empty when the log has none) — what a next run may take as its anchor.
  crypto::Hash root{};
  std::string latest_checkpoint;
  uint64_t latest_checkpoint_size = 0;
  // VerifyAnchor: the checkpoints were verified under the pinned key, and the log was shown to
  // hold the trusted checkpoint's tree (its size; 0 without one).
  bool key_pinned = false;
  std::optional<uint64_t> anchored_size;
};

// An anchor from outside the data directory for VerifyDataDir (`cairn verify --verifier-key
// --checkpoint-file`). Without one, verification trusts the signing key the directory holds and
// cannot see a log cut back or rewritten together with its checkpoints and tree state. With
// `verifier_key`, every stored checkpoint must verify under that key (not the directory's);
// with `trusted_checkpoint` (a signed note under that key, kept from an earlier run or a
// witness), the log must hold its tree: as many events at least, and the same root at its size.
struct VerifyAnchor {
  std::string verifier_key;        // a verifier key line (`cairn vkey`); empty: no anchor
  std::string trusted_checkpoint;  // needs verifier_key; empty: none
};

// What `cairn recover` found and did (EventStore::RecoverDataDir).
struct RecoveryReport {
  // Why the normal open refuses the directory; empty when it opens as it is (nothing was done).
  std::string open_failure;
  // The log that point-in-time recovery keeps (the write-ahead log replayed up to its first
  // damaged record), verified in full; nothing is written to find it.
  VerifyReport recovered;
  uint64_t tree_size = 0;           // events kept (when recovered.ok)
  uint64_t checkpoint_size = 0;     // the latest stored signed checkpoint's tree size kept
  bool applied = false;             // the recovery was written and the store opens and verifies
  std::string wal_copy_dir;         // with apply: where the WAL files were copied first
  std::vector<std::string> wal_files_copied;
  std::string apply_failure;        // with apply, when applying failed (after the copy)
};

// Pacing of a background verification (the scrub, engine/scrubber.h), so that it does not starve
// appends: records are checked in chunks of at most chunk_records, and `between_chunks` (when
// set) runs after each chunk — it may sleep, and returns false to stop the run.
inline constexpr uint64_t kVerifyChunkRecordsMax = 65536;
struct VerifyPacing {
  uint64_t chunk_records = 4096;  // 1 .. kVerifyChunkRecordsMax
  std::function<bool()> between_chunks;
};

class EventStore {
 public:
  // Creates a new data directory (keyring, store, storage key epoch 0, checkpoint signing key,
  // origin). kAlreadyExists if it is already initialised; nothing is overwritten.
  static Status Init(const InitOptions& options);
  static Result<std::unique_ptr<EventStore>> Open(const Options& options);
  // Verifies the log of a data directory without opening it for writes, so that a damaged log
  // (one that Open() refuses) can still be examined. Takes the directory lock. Writes nothing:
  // RocksDB is opened read-only; a PostgreSQL log is opened with PgOptions::read_only (no
  // migration, no key purge, READ ONLY sessions), so its schema must be at this cairn's version.
  static VerifyReport VerifyDataDir(const std::string& data_dir, const keys::KmsConfig& kms = {},
                                    const std::optional<storage::PgOptions>& postgres = std::nullopt,
                                    const VerifyAnchor& anchor = {});

  // Recovers a RocksDB data directory that Open() refuses over a damaged write-ahead log record
  // (media damage, or a torn multi-block record a power loss left): reports the log that replaying
  // the WAL up to its first damaged record would keep, verified in full, without writing. With
  // `apply`, and only when that log verifies (every stored checkpoint still covered and
  // consistent), copies the WAL files to <data_dir>/wal-recovery-<UTC time>/ and then opens the
  // store once with point-in-time recovery, which writes the kept state and drops the rest of the
  // WAL: commits after the damaged record are lost, acknowledged or not. Then verifies the store
  // as Open() would see it. Does nothing when Open() would not refuse. Takes the directory lock
  // for each step (a server holding it fails the call). Not for a PostgreSQL log.
  static RecoveryReport RecoverDataDir(const std::string& data_dir, const keys::KmsConfig& kms,
                                       bool apply);

  virtual ~EventStore() = default;

  // Appends `events` to `stream_id` atomically. Errors: kInvalidArgument (bad stream id, type,
  // id or JSON), kResourceExhausted (size or count limits), kWrongExpectedVersion (detail: the
  // current version, -1 if none), kStreamDeleted, kAlreadyExists (an event id was appended
  // before, but not as an idempotent re-send of this batch).
  virtual Result<AppendResult> Append(std::string_view stream_id, ExpectedVersion expected,
                                      std::vector<ProposedEvent> events) = 0;
  // Appends to a system stream (one whose id starts with '$': `$parked-<group>`, `$audit`) for
  // cairn's own writers; event types may start with '$' too. Never reachable from a client call:
  // the server's Append refuses '$' streams. Protection rules do not apply. Same errors as Append.
  virtual Result<AppendResult> AppendSystem(std::string_view stream_id, ExpectedVersion expected,
                                            std::vector<ProposedEvent> events) {
    return Status::FailedPrecondition("system appends are not available here");
  }
  // Append without blocking the caller until the commit: `done` runs exactly once with what
  // Append() would return — on an engine thread after the group commit, or on the calling
  // thread when the batch is refused before it is queued. A batch with events of protected types
  // is protected on the engine's protect threads first (Options::protect_threads), so that the
  // caller never waits for the KMS or a key's durable put; it is refused there, or at once when
  // their queue is full. The appends of one stream reach the log in the order AppendAsync was
  // called (an unprotected one waits behind the stream's protected ones). `done` must be quick and must not call back into the store (it holds up
  // the commits behind it). The call never waits for room in a queue: a full one answers
  // kUnavailable (nothing written; re-send after a short wait). The default runs Append() and
  // then `done`.
  virtual void AppendAsync(std::string_view stream_id, ExpectedVersion expected,
                           std::vector<ProposedEvent> events, AppendCallback done) {
    done(Append(stream_id, expected, std::move(events)));
  }
  // The reader's view of a stored event (field protection): protected fields decrypted when
  // `may_read_pii`, masked otherwise, erased once the subject's key was destroyed, with the
  // pointers listed in RecordedEvent::masked / erased. Events of unprotected types come back
  // unchanged. kDataLoss when a protected field fails to decrypt (moved or tampered ciphertext);
  // kUnavailable when the KMS is (never ciphertext shown as plaintext).
  virtual Result<RecordedEvent> Reveal(RecordedEvent event, bool may_read_pii) { return event; }
  // Reveal() of a run of events in place: events[i] as views[i] says (kStored: left as stored —
  // for events the caller will not show, or leave unrevealed). Same results and errors as
  // Reveal() one by one; the error returned is the one of the lowest index, and the events are
  // then partly revealed. Runs of at least kParallelRevealMin protected events use a second
  // thread (common/parallel_for.h). `views` must be as long as `events`.
  virtual Status RevealMany(std::span<RecordedEvent> events, std::span<const FieldView> views) {
    return Status::Ok();
  }
  virtual bool IsProtected(std::string_view event_type) const { return false; }
  // Crypto-shredding (`forget`): destroys every version of `subject`'s key, physically, before
  // returning; the log is untouched and still verifies. Idempotent.
  virtual Result<ForgetResult> Forget(std::string_view subject) {
    return Status::FailedPrecondition("forget is not available here");
  }
  // How audit records and `cairn keys list` name a subject: SHA-256 of the store's subject-key
  // salt and the subject, in hex (the salt lives in the store, so whoever reads only the audit
  // trail cannot test guesses of customer ids against it). Empty where there is no key store.
  virtual std::string SubjectHashHex(std::string_view subject) const { return {}; }
  // Key administration (`cairn keys`). RotateStorageKey starts a new storage epoch: records from
  // the next position on are encrypted under a new key; older epochs stay readable. Returns the
  // new epoch number. It is ordered with appends (taken by the sequencer between two groups).
  virtual Result<uint32_t> RotateStorageKey() {
    return Status::FailedPrecondition("storage key rotation is not available here");
  }
  // Starts a new key version for `subject`, used by its new events from now on; earlier events
  // stay readable under their version. Returns the new kid. kNotFound if the subject has no key.
  virtual Result<std::string> RotateSubjectKey(std::string_view subject) {
    return Status::FailedPrecondition("subject key rotation is not available here");
  }
  // KEK rotation: a new KEK version in the provider, then every wrapped key (subject keys,
  // storage epochs, the checkpoint signing key, components' secrets: keys/component_secrets.h)
  // re-wrapped under it with a durable write each, then the old versions retired. Safe to interrupt: old versions stay usable for unwrapping
  // until the end, and a second call finishes an interrupted rotation (resumed = true) instead
  // of starting another. Old data stays readable. kFailedPrecondition for a provider that
  // cannot rotate; the KMS's kUnavailable is passed on.
  virtual Result<KekRotation> RotateKek() {
    return Status::FailedPrecondition("KEK rotation is not available here");
  }
  // Online backup into the new directory `dir` (created owner-only; kAlreadyExists when it
  // exists), laid out like a data directory without keys or configuration: `dir`/db is a
  // consistent copy of the store (a prefix of the commits, made while appends go on) and
  // `dir`/checkpoint.note its latest signed checkpoint, which a checkpoint signed first makes
  // cover nearly all of it. The copy's wrapped keys need this log's KEK to be read: the KEK is
  // never copied, and a KEK rotation waits for a backup (and a backup for it). One backup at a
  // time (kAborted). kFailedPrecondition for a backend with backups of its own (PostgreSQL).
  virtual Result<BackupResult> Backup(const std::string& dir) {
    (void)dir;
    return Status::FailedPrecondition("backups are not available here");
  }
  // Storage epochs (oldest first), then subject key versions grouped by subject hash, a page
  // at a time: at most `keys_max` keys (1 .. kKeyPageKeysMax), except that a subject's versions
  // are never split (a page that starts with a subject of more versions holds them all, at most
  // kSubjectKeyVersionsMax), from `page_token` (empty: the start; otherwise the previous page's
  // next_page_token). A page may be short or even empty (subjects forgotten meanwhile): only an
  // empty next_page_token ends the listing. kInvalidArgument for a malformed token. Keys created
  // or forgotten between pages may be missed or listed; none is listed twice.
  virtual Result<KeyPage> ListKeys(std::string_view page_token, size_t keys_max) {
    return Status::FailedPrecondition("listing keys is not available here");
  }
  // Commit notifications (subscriptions): `observer` runs after every group commit with the new
  // tree size, on the commit thread, before that group's appenders are answered. It must be quick
  // (it holds up the commits behind it) and must not call into the store or into
  // Add/RemoveCommitObserver. Returns a handle (never 0) for RemoveCommitObserver, which returns
  // only when the observer is not running and will not run again. At most
  // kCommitObserversMax observers; beyond that the call returns 0 and adds nothing.
  static constexpr size_t kCommitObserversMax = 4096;
  virtual uint64_t AddCommitObserver(std::function<void(uint64_t tree_size)> observer) { return 0; }
  virtual void RemoveCommitObserver(uint64_t handle) {}
  // Small durable state of cairn's own components (consumer groups, webhooks), kept in the
  // store's metadata, unencrypted: never put personal data or secrets there. `name` must start
  // with a component prefix ending in '/' ("group/", "webhook/"), which keeps it apart from the
  // engine's own metadata; kInvalidArgument otherwise. Each put is durable on return (one sync),
  // so callers batch their updates. ReadComponentState returns nullopt for a missing name.
  virtual Status PutComponentState(std::string_view name, std::string_view value) {
    return Status::FailedPrecondition("component state is not available here");
  }
  virtual Result<std::optional<std::string>> ReadComponentState(std::string_view name) {
    return Status::FailedPrecondition("component state is not available here");
  }
  // Secrets of cairn's own components (webhook signing secrets): the KMS wraps them and the
  // LogStore keeps only the wrapped form as key material under the component's prefix
  // ("webhook/..."), so DestroyKeyMaterial removes them physically. Owned by the store, valid
  // while it lives; nullptr where not available.
  virtual storage::LogStore* log_store() { return nullptr; }
  // Wraps `secret` under the current KEK and keeps it as key material `name` (durable on
  // return). `name` must start with a prefix of keys::kComponentSecretPrefixes; kInvalidArgument
  // otherwise. Runs under the KEK rotation's lock (shared): a RotateKek waits for it, so a secret
  // wrapped under a KEK version the rotation then retires is never stored after the rotation
  // collected the secrets to re-wrap. Thread-safe.
  virtual Status PutComponentSecret(std::string_view name, const crypto::SecureBytes& secret) {
    return Status::FailedPrecondition("component secrets are not available here");
  }
  // Shared stores: other nodes' events this node learned before building on their commits,
  // decoded ahead by its prefetcher as their notifications arrived, told by the sealed summary
  // of the group that committed before the lock passed (group_summary.h), or read under the
  // commit lock. Totals since open; zero on a store of one node.
  struct RemoteReads {
    uint64_t prefetched = 0;
    uint64_t ahead_summarized = 0;  // decoded ahead from group summaries instead of records
    uint64_t learned_before_lock = 0;  // of `prefetched`: learned before waiting for the lock
    uint64_t summarized = 0;
    uint64_t read_under_lock = 0;
    uint64_t rebases = 0;    // groups built on other nodes' commits (under the commit lock)
    uint64_t rebase_ns = 0;  // their total time: key refresh, learning the events, the new tree
  };
  virtual RemoteReads remote_reads() { return {}; }
  virtual keys::KmsProvider* kms() { return nullptr; }
  // Tombstones a stream: appends a `$streamDeleted` event; later appends fail, reads say deleted.
  virtual Result<AppendResult> DeleteStream(std::string_view stream_id, ExpectedVersion expected) = 0;

  // Reads of a stream or of the log return up to `limit` events (at most
  // Limits::read_events_max), and fewer mid-range when their stored bytes reach
  // Limits::read_size_bytes_max (the event that reaches it is returned: at least one event when
  // one is there). A caller pages on from the last event returned; a short page is not the end.
  //
  // Reads a stream from `from_version` (inclusive) in `direction`; end_of_stream says whether
  // the page reached the stream's end (or, backwards, its first event). Backwards from
  // UINT64_MAX starts at the last event. kNotFound / kStreamDeleted.
  virtual Result<ReadStreamResult> ReadStream(std::string_view stream_id, uint64_t from_version,
                                              Direction direction, uint64_t limit) = 0;
  // Reads the whole log from `from_position`, in log order; empty at the end of the log.
  virtual Result<std::vector<RecordedEvent>> ReadAll(uint64_t from_position, uint64_t limit) = 0;
  virtual Result<RecordedEvent> ReadAt(uint64_t position) = 0;
  virtual Result<StreamInfo> GetStreamInfo(std::string_view stream_id) = 0;

  // The committed tree size (number of events in the log) as this node knows it; on a shared
  // store another node's newest commits may not be in it yet (they arrive by notification).
  virtual uint64_t tree_size() const = 0;
  // The tree size including every append acknowledged by any node before the call: on a shared
  // store one PostgreSQL read first (its error, e.g. kUnavailable, when that read fails: this
  // node's older view would end a read early), otherwise tree_size(). For the end of a read.
  virtual Result<uint64_t> LatestTreeSize() { return tree_size(); }
  virtual std::string origin() const = 0;
  // The verifier key line: name+hex(key id)+base64(0x01 || public key).
  virtual std::string verifier_key() const = 0;
  // The latest signed checkpoint, signing one for the current tree first if the latest is older.
  virtual Result<SignedCheckpoint> Checkpoint() = 0;
  // The latest stored checkpoint without signing a new one; kNotFound if none.
  virtual Result<SignedCheckpoint> LatestStoredCheckpoint() = 0;
  // For a caller who asks (Integrity.GetCheckpoint): a checkpoint covering every event committed
  // when called — the latest stored one when it does, else one signed no sooner than
  // Options::checkpoint_interval_ms after this process's previous signing (the caller waits, at
  // most that long plus the callers before it; they share one signing), so that requests cannot
  // make the log sign, store and keep checkpoints more often than the checkpointer does.
  virtual Result<SignedCheckpoint> CheckpointOnRequest() { return Checkpoint(); }
  // RFC 9162 proofs. `size` 0 means the current tree size. O(log n) storage reads.
  virtual Result<InclusionProof> ProveInclusion(uint64_t index, uint64_t size) = 0;
  // Proofs of several positions in ONE tree (`size`, or 0: the current one), in the order of
  // `indexes`; kInvalidArgument if any is beyond it. Proofs of nearby positions share their
  // storage reads. The default proves them one by one.
  virtual Result<std::vector<InclusionProof>> ProveInclusions(std::span<const uint64_t> indexes,
                                                              uint64_t size);
  virtual Result<ConsistencyProof> ProveConsistency(uint64_t size1, uint64_t size2) = 0;

  // Full verification (DESIGN.md, Verification). Never throws; the report says what failed.
  virtual VerifyReport Verify() = 0;

  // Scrub support (engine/scrubber.h); both only read, while appends continue.
  // VerifyPaced: Verify() over the log as committed when the call starts (later appends are left
  // for the next run), paced as `pacing` says.
  virtual VerifyReport VerifyPaced(const VerifyPacing& pacing) { return Verify(); }
  // VerifyRange: the incremental check of the committed records [from, to), to <= tree_size()
  // and to - from <= kVerifyChunkRecordsMax (else kInvalidArgument in the report): each record
  // decrypts at its position, its data and metadata hashes match, its stream chain links to its
  // predecessor (through the stream index and the stored leaf hash, for predecessors before
  // `from`), the stored leaf hashes and the Merkle nodes the range completes equal the recomputed
  // ones, and the root agrees with the stored tree state and the latest checkpoint when either
  // ends inside the range. The prefix [0, from) is taken from the stored Merkle nodes.
  virtual VerifyReport VerifyRange(uint64_t from, uint64_t to) {
    VerifyReport r;
    r.failure = "range verification is not available here";
    return r;
  }
};

}  // namespace cairn::engine
