// The soak's admin load: policy reloads, forgets and key rotations (see bench_soak.h).

#include "cli/bench_soak_state.h"
#include "common/trusted_file.h"
#include "crypto/x509.h"

namespace cairn::cli::soak {
namespace {

constexpr size_t kPolicyFileSizeBytesMax = 1 << 20;

// Replaces `path` with `text` in one step (a complete 0600 file renamed over it), as an
// operator's deploy would, so that the server never reads half a file.
Status ReplaceFile(const std::string& path, const std::string& text) {
  return crypto::ReplaceFile(path, text, 0600);
}

// The original policy plus a role that changes with every reload.
std::string PolicyText(const std::string& original, uint64_t generation) {
  const std::string name = "soak-reload-" + std::to_string(generation);
  return original + "\n[[role]]\nname = \"" + name + "\"\ngrants = [\n  { actions = [\"read\"], " +
         "streams = [\"" + name + "-*\"], event_types = [\"*\"] },\n]\n";
}

class Admin {
 public:
  Admin(SoakState& state, Client& client, std::string original_policy)
      : s_(state), client_(client), original_policy_(std::move(original_policy)) {}

  void ReloadPolicy() {
    ++reloads_;
    Status st = ReplaceFile(s_.config.policy_file, PolicyText(original_policy_, reloads_));
    if (!st.ok()) return s_.Error("policy write", st);
    auto reloaded = client_.ReloadPolicy();
    if (!reloaded.ok()) return s_.Error("reload policy", reloaded.status());
    if (reloaded->generation() <= generation_) {
      return s_.Error("reload policy", Status::Internal("the policy generation did not advance"));
    }
    generation_ = reloaded->generation();
    s_.policy_reloads.fetch_add(1);
  }

  // Forgets the subjects of every slot that is over (appenders use only the current slot's).
  void ForgetFinishedSlots() {
    const uint64_t current = s_.Slot();
    for (; next_forget_slot_ < current; ++next_forget_slot_) {
      for (uint32_t j = 0; j < s_.config.subjects_per_interval; ++j) {
        auto forgotten = client_.Forget(s_.Subject(next_forget_slot_, j));
        if (!forgotten.ok()) return s_.Error("forget", forgotten.status());
        s_.forgets.fetch_add(1);
      }
    }
  }

  void RotateKeys() {
    v1::RotateKeyRequest storage;
    storage.set_storage(true);
    auto rotated = client_.RotateKey(storage);
    if (!rotated.ok()) return s_.Error("rotate storage key", rotated.status());
    s_.storage_rotations.fetch_add(1);
    if (s_.config.protected_every == 0) return;
    v1::RotateKeyRequest subject;
    subject.set_subject(s_.Subject(s_.Slot(), 0));
    rotated = client_.RotateKey(subject);
    if (!rotated.ok()) return s_.Error("rotate subject key", rotated.status());
    s_.subject_rotations.fetch_add(1);
  }

 private:
  SoakState& s_;
  Client& client_;
  const std::string original_policy_;
  uint64_t reloads_ = 0;
  uint64_t generation_ = 0;
  uint64_t next_forget_slot_ = 0;
};

// Runs `action` when `elapsed_s` reached `*next_s`, and schedules the next time.
template <typename Action>
void Every(double interval_s, double elapsed_s, double* next_s, Action action) {
  if (interval_s <= 0 || elapsed_s < *next_s) return;
  action();
  *next_s += interval_s;
}

}  // namespace

void RunAdmin(SoakState& s, Client& client) {
  auto original = ReadSmallFile(s.config.policy_file, "policy file", kPolicyFileSizeBytesMax);
  if (!original.ok()) return s.Error("policy read", original.status());
  Admin admin(s, client, std::move(original).value());
  const SoakConfig& c = s.config;
  double next_policy_s = c.policy_interval_s, next_forget_s = c.forget_interval_s,
         next_rotate_s = c.rotate_interval_s;
  constexpr double kTickS = 0.5;
  for (uint64_t k = 1; s.SleepUntil(s.At(k * kTickS)); ++k) {
    const double elapsed_s = s.ElapsedS();
    if (elapsed_s >= c.duration_s) return;
    Every(c.policy_interval_s, elapsed_s, &next_policy_s, [&] { admin.ReloadPolicy(); });
    Every(c.forget_interval_s, elapsed_s, &next_forget_s, [&] { admin.ForgetFinishedSlots(); });
    Every(c.rotate_interval_s, elapsed_s, &next_rotate_s, [&] { admin.RotateKeys(); });
  }
}

}  // namespace cairn::cli::soak
