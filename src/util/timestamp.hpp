// The current time as text, for the records pinn-train leaves in its files.
#pragma once

#include <chrono>
#include <ctime>
#include <string>

namespace pinn {

// "2026-12-02T10:17:10Z"
inline std::string utc_timestamp() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm parts{};
  gmtime_r(&now, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

}  // namespace pinn
