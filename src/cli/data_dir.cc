#include "cli/data_dir.h"

#include <cstdlib>

#include "cli/errors.h"

namespace cairn::cli {

void AddDataDirOption(CLI::App* command, std::string* data_dir) {
  command->add_option("--data-dir", *data_dir, "Data directory (default: $CAIRN_DATA_DIR)")
      ->option_text("DIR");
}

Result<std::string> ResolveDataDir(const CliContext& ctx, const std::string& command_value) {
  if (!command_value.empty()) return command_value;
  if (!ctx.global_data_dir.empty()) return ctx.global_data_dir;
  const char* env = std::getenv("CAIRN_DATA_DIR");
  if (env != nullptr && *env != '\0') return std::string(env);
  return Status::InvalidArgument("no data directory: pass --data-dir DIR or set CAIRN_DATA_DIR");
}

Result<std::unique_ptr<engine::EventStore>> OpenStore(const std::string& data_dir) {
  engine::Options options;
  options.data_dir = data_dir;
  return engine::EventStore::Open(options);  // its messages already say to run `cairn init`
}

std::unique_ptr<engine::EventStore> OpenOrReport(const CliContext& ctx,
                                                const std::string& command_value,
                                                int* exit_code) {
  auto dir = ResolveDataDir(ctx, command_value);
  if (!dir.ok()) {
    *exit_code = UsageError(dir.status().message());
    return nullptr;
  }
  auto store = OpenStore(*dir);
  if (!store.ok()) {
    *exit_code = Fail(store.status());
    return nullptr;
  }
  return std::move(store).value();
}

}  // namespace cairn::cli
