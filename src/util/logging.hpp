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

// The live progress line on a terminal: rewritten in place a few times a second, erased before
// any log line. Does nothing off a terminal, in JSON mode or under -q.
class LiveLine {
 public:
  static LiveLine& instance();
  bool due();  // enabled, and the last update is a quarter of a second old
  void show(const std::string& text);
  void clear();
  // No live line from this process (the ranks other than 0 of a run across processes).
  void disable() { enabled_ = false; }

 private:
  friend void configure_logging(const LogSettings& settings);
  bool enabled_ = false;
  bool shown_ = false;
  double last_ = -1;
};

}  // namespace pinn::util
