// A SoftHSMv2 token that a test creates in its own temp dir (its own SOFTHSM2_CONF, token
// directory and PIN file), for the PKCS#11 tests of keys/, engine/ and the integration tests.
// Hide()/Show() rename the token directory away and back: the "token gone" of the KMS tests.
#pragma once

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "keys/kms_config.h"
#include "test_util.h"

namespace cairn::testing {

inline constexpr char kSoftHsmModule[] = "/usr/lib/softhsm/libsofthsm2.so";
inline constexpr char kSoftHsmTokenLabel[] = "cairn-test";
inline constexpr char kSoftHsmPin[] = "1234";

// Runs a program (no shell) with its output discarded; returns its exit code.
inline int RunTool(std::vector<std::string> args) {
  pid_t pid = ::fork();
  if (pid == 0) {
    FILE* null = std::fopen("/dev/null", "w");
    if (null != nullptr) {
      ::dup2(::fileno(null), 1);
      ::dup2(::fileno(null), 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline bool SoftHsmInstalled() { return ::access(kSoftHsmModule, R_OK) == 0; }

class SoftHsmToken {
 public:
  // Creates the token under `dir` and points SOFTHSM2_CONF of this process (and so of the
  // children it starts) at it. ok() says whether that worked.
  explicit SoftHsmToken(const std::string& dir)
      : tokens_(dir + "/tokens"), conf_(dir + "/softhsm2.conf"), pin_file_(dir + "/pin") {
    std::filesystem::create_directories(tokens_);
    WriteFile(conf_, "directories.tokendir = " + tokens_ +
                         "\nobjectstore.backend = file\nlog.level = ERROR\n");
    ::setenv("SOFTHSM2_CONF", conf_.c_str(), 1);
    ok_ = RunTool({"softhsm2-util", "--init-token", "--free", "--label", kSoftHsmTokenLabel,
                   "--pin", kSoftHsmPin, "--so-pin", "5678"}) == 0;
    WriteFile(pin_file_, std::string(kSoftHsmPin) + "\n");
    ok_ = ok_ && ::chmod(pin_file_.c_str(), 0600) == 0;
  }

  bool ok() const { return ok_; }
  const std::string& tokens_dir() const { return tokens_; }
  const std::string& conf() const { return conf_; }
  const std::string& pin_file() const { return pin_file_; }

  keys::Pkcs11Options Options(const std::string& key_label = "cairn-kek") const {
    keys::Pkcs11Options o;
    o.module_path = kSoftHsmModule;
    o.token_label = kSoftHsmTokenLabel;
    o.pin_file = pin_file_;
    o.key_label = key_label;
    return o;
  }
  keys::KmsConfig Config(const std::string& key_label = "cairn-kek") const {
    keys::KmsConfig c;
    c.provider = "pkcs11";
    c.pkcs11 = Options(key_label);
    return c;
  }
  // The [keys] section for this token.
  std::string Toml(const std::string& key_label = "cairn-kek") const {
    return std::string("[keys]\nprovider = \"pkcs11\"\nmodule = \"") + kSoftHsmModule +
           "\"\ntoken_label = \"" + kSoftHsmTokenLabel + "\"\npin_file = \"" + pin_file_ +
           "\"\nkey_label = \"" + key_label + "\"\n";
  }

  // The token directory renamed away (the token is gone) and back.
  bool Hide() const { return ::rename(tokens_.c_str(), (tokens_ + ".away").c_str()) == 0; }
  bool Show() const { return ::rename((tokens_ + ".away").c_str(), tokens_.c_str()) == 0; }

 private:
  std::string tokens_, conf_, pin_file_;
  bool ok_ = false;
};

}  // namespace cairn::testing
