// The server configuration as `cairn serve` and `cairn doctor` load it: --config FILE, or
// DIR/cairn.toml (the dev set-up) when it exists, or the defaults; then the CAIRN_* environment
// overrides; then the data directory (--data-dir / $CAIRN_DATA_DIR, or the file's data_dir).
//
// Thread safety: reads the environment and the file system; call from the main thread.
#pragma once

#include <string>

#include "common/status.h"
#include "server/config.h"

namespace cairn::cli {

// `config_file` "" = DIR/cairn.toml when it exists. `data_dir`: the resolved data directory ("" if
// none); `data_dir_given`: it came from the command line, so it beats the file's data_dir.
Result<server::Config> LoadServerConfig(const std::string& config_file, const std::string& data_dir,
                                        bool data_dir_given);

}  // namespace cairn::cli
