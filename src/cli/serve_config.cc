#include "cli/serve_config.h"

#include <cstdlib>
#include <filesystem>

#include "server/dev_setup.h"

namespace cairn::cli {

Result<server::Config> LoadServerConfig(const std::string& config_file, const std::string& data_dir,
                                        bool data_dir_given) {
  std::string file = config_file;
  if (file.empty() && !data_dir.empty()) {
    const std::string candidate = server::DevSetupPaths(data_dir).config_file;
    if (std::filesystem::exists(candidate)) file = candidate;
  }
  Result<server::Config> config = file.empty() ? Result<server::Config>(server::DefaultConfig())
                                               : server::LoadConfigFile(file);
  if (!config.ok()) return config.status();
  if (Status s = server::ApplyEnvOverrides(&*config, [](const char* n) { return std::getenv(n); });
      !s.ok()) {
    return s;
  }
  if (data_dir_given || config->data_dir.empty()) config->data_dir = data_dir;
  return config;
}

}  // namespace cairn::cli
