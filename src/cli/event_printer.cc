#include "cli/event_printer.h"

#include <iostream>

#include "cli/output_json.h"
#include "cli/output_text.h"

namespace cairn::cli {

void EventPrinter::Print(const std::vector<engine::RecordedEvent>& events) {
  for (const auto& event : events) {
    std::cout << (json_ ? JsonLine(EventToJson(event)) : EventLine(event)) << "\n";
  }
}

}  // namespace cairn::cli
