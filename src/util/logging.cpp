// The log sinks: coloured text, JSON lines, and the run directory's file.
#include "util/logging.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "util/errors.hpp"

namespace pinn::util {

namespace {

// One JSON object per line on standard error, for log collectors and batch-job logs.
class JsonLineSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    const auto level = spdlog::level::to_string_view(message.level);
    const nlohmann::json line = {
        {"time", utc_time(message.time)},
        {"level", std::string(level.data(), level.size())},
        {"message", std::string(message.payload.data(), message.payload.size())}};
    std::fputs((line.dump() + "\n").c_str(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  static std::string utc_time(std::chrono::system_clock::time_point time) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count() %
        1000;
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char text[40];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
    char result[48];
    std::snprintf(result, sizeof result, "%s.%03dZ", text, static_cast<int>(millis));
    return result;
  }
};

// The terminal's sink: erases the live progress line before each log line.
class TerminalSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  TerminalSink() : inner_(std::make_shared<spdlog::sinks::stderr_color_sink_st>()) {
    inner_->set_pattern("[%T] %^%l%$ %v");
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& message) override {
    LiveLine::instance().clear();
    inner_->log(message);
  }
  void flush_() override { inner_->flush(); }
  void set_pattern_(const std::string& pattern) override { inner_->set_pattern(pattern); }

 private:
  std::shared_ptr<spdlog::sinks::stderr_color_sink_st> inner_;
};

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

LiveLine& LiveLine::instance() {
  static LiveLine line;
  return line;
}

bool LiveLine::due() {
  if (!enabled_) return false;
  const double now = now_seconds();
  if (now - last_ < 0.25) return false;
  last_ = now;
  return true;
}

void LiveLine::show(const std::string& text) {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
  shown_ = true;
}

void LiveLine::clear() {
  if (!shown_) return;
  std::fputs("\r\033[K", stderr);
  shown_ = false;
}

void configure_logging(const LogSettings& settings) {
  const bool json =
      settings.format == "json" || (settings.format == "auto" && isatty(STDERR_FILENO) == 0);
  std::shared_ptr<spdlog::logger> logger;
  if (json) {
    logger = std::make_shared<spdlog::logger>("pinn-train", std::make_shared<JsonLineSink>());
  } else {
    logger = std::make_shared<spdlog::logger>("pinn-train", std::make_shared<TerminalSink>());
  }
  LiveLine::instance().enabled_ = !json && !settings.quiet && isatty(STDERR_FILENO) != 0;
  logger->set_level(settings.quiet     ? spdlog::level::err
                    : settings.verbose ? spdlog::level::debug
                                       : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void log_to_file(const std::filesystem::path& path) {
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> sink;
  try {
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path.string(), false);
  } catch (const spdlog::spdlog_ex& e) {
    throw OutputError("cannot open the log file " + path.string() + ": " + e.what());
  }
  sink->set_pattern("[%Y-%m-%d %T.%e] %l %v");
  // The file keeps info lines even under -q.
  sink->set_level(spdlog::level::info);
  auto logger = spdlog::default_logger();
  // A log line that cannot be written (a full disk) is said once, not on every line; the run
  // itself fails at its next write of a file that matters.
  logger->set_error_handler([path](const std::string& message) {
    static bool said = false;
    if (said) return;
    said = true;
    std::fprintf(stderr, "pinn-train: warning: cannot write the log file %s: %s\n", path.c_str(),
                 message.c_str());
  });
  logger->sinks().push_back(sink);
  if (logger->level() > spdlog::level::info) {
    for (auto& existing : logger->sinks()) {
      if (existing != sink) existing->set_level(logger->level());
    }
    logger->set_level(spdlog::level::info);
  }
}

}  // namespace pinn::util
