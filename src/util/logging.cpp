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

}  // namespace

void configure_logging(const LogSettings& settings) {
  const bool json =
      settings.format == "json" || (settings.format == "auto" && isatty(STDERR_FILENO) == 0);
  std::shared_ptr<spdlog::logger> logger;
  if (json) {
    logger = std::make_shared<spdlog::logger>("pinn-train", std::make_shared<JsonLineSink>());
  } else {
    logger = spdlog::stderr_color_mt("pinn-train");
    logger->set_pattern("[%T] %^%l%$ %v");
  }
  logger->set_level(settings.quiet     ? spdlog::level::err
                    : settings.verbose ? spdlog::level::debug
                                       : spdlog::level::info);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

void log_to_file(const std::filesystem::path& path) {
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path.string(), false);
  sink->set_pattern("[%Y-%m-%d %T.%e] %l %v");
  // The file keeps info lines even under -q.
  sink->set_level(spdlog::level::info);
  auto logger = spdlog::default_logger();
  logger->sinks().push_back(sink);
  if (logger->level() > spdlog::level::info) {
    for (auto& existing : logger->sinks()) {
      if (existing != sink) existing->set_level(logger->level());
    }
    logger->set_level(spdlog::level::info);
  }
}

}  // namespace pinn::util
