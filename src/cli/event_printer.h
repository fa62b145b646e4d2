// Writes events to stdout as they are read, one line each: human text or one JSON object.
#pragma once

#include <vector>

#include "engine/types.h"

namespace cairn::cli {

class EventPrinter {
 public:
  explicit EventPrinter(bool json) : json_(json) {}
  void Print(const std::vector<engine::RecordedEvent>& events);

 private:
  bool json_;
};

}  // namespace cairn::cli
