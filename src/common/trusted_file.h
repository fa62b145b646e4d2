// Reading small files whole: certificates, tokens, JWKS documents, configuration, policies.
//
// ReadSmallFile reads a regular file of at most `size_bytes_max` bytes (also if it grew while
// being read). `what` names the file in errors ("policy file", "--ca"). Errors: kNotFound
// (missing), kInvalidArgument (not a regular file), kResourceExhausted (too large), kIOError
// (anything else). Key files that must not be reached through a symlink and must be wiped on
// error have their own readers (keys/local_kms.cc, crypto/x509.cc).
//
// For a file whose content decides security (a policy, protection rules, a configuration):
// ReadTrustedFile is ReadSmallFile that also refuses a file others may write (whoever can write
// it can switch the control off): kFailedPrecondition.
//
// For a file that decides where a credential goes or which key is trusted (the CLI's client
// config, a pinned verifier key): ReadOwnedFile refuses a file owned by another user (root
// excepted) or writable by group or others: kFailedPrecondition.
//
// For a secret (a TLS private key): ReadPrivateFile is ReadSmallFile that refuses a file group
// or others may access, judged on the opened descriptor (fstat): the file that is read, also
// when the path is a symlink (secret mounts are) or was swapped after an earlier check:
// kFailedPrecondition. The caller wipes what it returns.
//
// Thread safety: a free function; safe to call concurrently.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cairn {

Result<std::string> ReadSmallFile(const std::string& path, std::string_view what,
                                  size_t size_bytes_max);
Result<std::string> ReadTrustedFile(const std::string& path, std::string_view what,
                                    size_t size_bytes_max);
// ReadTrustedFile that also gives the mode bits of the file it read (fstat of the opened
// descriptor), for a caller that learns only from the content whether it holds secrets.
Result<std::string> ReadTrustedFile(const std::string& path, std::string_view what,
                                    size_t size_bytes_max, mode_t* mode);
Result<std::string> ReadOwnedFile(const std::string& path, std::string_view what,
                                  size_t size_bytes_max);
Result<std::string> ReadPrivateFile(const std::string& path, std::string_view what,
                                    size_t size_bytes_max);

}  // namespace cairn
