// Log output: human-readable lines on a terminal; elsewhere (batch jobs, pipes) or with
// --log-format json, one JSON object per line ({"time", "level", "message"}); and a copy of
// every line in the run directory's train.log.
#pragma once

#include <filesystem>
#include <string>

namespace pinn::util {

struct LogSettings {
  std::string format = "auto";  // auto (text on a terminal, else json), text or json
  bool verbose = false;
  bool quiet = false;  // errors only
};

void configure_logging(const LogSettings& settings);
// Also writes the log to `path` (appended: a resumed run continues its file).
void log_to_file(const std::filesystem::path& path);

}  // namespace pinn::util
