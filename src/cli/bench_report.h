// Output of `cairn bench`: a compact table, or one JSON object.
#pragma once

#include <string>

#include "cli/bench_load.h"
#include "cli/output_json.h"

namespace cairn::cli {

std::string BenchTable(const BenchConfig& config, const BenchResult& result);
Json BenchJson(const BenchConfig& config, const BenchResult& result);

}  // namespace cairn::cli
