// A protection rule for the engine tests that need a protected event type: CustomerRegistered,
// subject at /customerId, /email protected; and an event of that type for a given customer.
#pragma once

#include <string>

namespace cairn::engine {

inline constexpr char kCustomerRules[] = R"(
[[rule]]
event_type = "CustomerRegistered"
subject = "/customerId"
fields = ["/email"]
)";

inline std::string Customer(const std::string& id) {
  return R"({"customerId":")" + id + R"(","email":")" + id + R"(@example.com"})";
}

}  // namespace cairn::engine
