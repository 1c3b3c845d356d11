// Argument parsing, logging set-up, and the mapping from errors to exit codes.
#include "cli/app.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <torch/version.h>
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.hpp"
#include "util/errors.hpp"
#include "util/signals.hpp"

namespace pinn::cli {

namespace {

struct Verbosity {
  bool verbose = false;
  bool quiet = false;
};

void configure_logging(const Verbosity& verbosity) {
  auto logger = spdlog::stderr_color_mt("pinn-train");
  logger->set_pattern("[%T] %^%l%$ %v");
  logger->set_level(verbosity.quiet     ? spdlog::level::err
                    : verbosity.verbose ? spdlog::level::debug
                                        : spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::string version_text() {
  return std::string("pinn-train ") + PINN_TRAIN_VERSION + " (LibTorch " +
         std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH) + ", CUDA " +
         (torch::cuda::is_available() ? "available" : "not available") + ")";
}

// The run options shared by `train` and `validate` (and the bare `pinn-train CONFIG`).
void add_run_options(CLI::App& app, RunOptions& options, Verbosity& verbosity) {
  app.add_option("--output,-o", options.output, "Run directory (default: runs/<name>)");
  app.add_option("--device", options.device, "cpu, cuda, cuda:N or auto (overrides the config)");
  app.add_option("--seed", options.seed, "Random seed (overrides the config)");
  app.add_option("--set", options.overrides,
                 "Override a config value: KEY=VALUE, e.g. training[0].lr=1e-4 (repeatable)")
      ->take_all()
      ->allow_extra_args(false);
  app.add_flag("--force", options.force, "Replace an existing run directory");
  app.add_flag("--resume", options.resume,
               "Continue the run in the run directory from its checkpoint, if it has one "
               "(otherwise start it): the same command can be requeued");
  app.add_flag("-v,--verbose", verbosity.verbose, "More log output");
  app.add_flag("-q,--quiet", verbosity.quiet, "Only errors");
}

int report(const std::string& kind, const std::string& message, int code) {
  std::cerr << "pinn-train: " << kind << message << std::endl;
  return code;
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{
      "pinn-train: train physics-informed neural networks from one JSON file.\n"
      "  pinn-train CONFIG.json            train (same as: pinn-train train CONFIG.json)\n"
      "  pinn-train validate CONFIG.json   check a config without training\n"
      "  pinn-train resume RUN_DIR         continue a stopped run from its checkpoint\n"
      "  pinn-train bench CONFIG.json      time a training step (--engine, --steps)",
      "pinn-train"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(0, 1);

  RunOptions options;
  Verbosity verbosity;
  add_run_options(app, options, verbosity);
  app.add_option("config", options.config_path, "The JSON config to train");

  CLI::App* train = app.add_subcommand("train", "Train the network described by a config");
  train->add_option("config", options.config_path, "The JSON config")->required();
  train->fallthrough();
  CLI::App* validate = app.add_subcommand("validate", "Check a config without training");
  validate->add_option("config", options.config_path, "The JSON config")->required();
  validate->fallthrough();
  std::string resume_directory;
  CLI::App* resume =
      app.add_subcommand("resume", "Continue a stopped run from its newest checkpoint");
  resume->add_option("run_directory", resume_directory, "The run directory")->required();
  resume->fallthrough();
  BenchOptions bench_options;
  CLI::App* bench =
      app.add_subcommand("bench", "Time the config's Adam step (no run directory); print JSON");
  bench->add_option("config", options.config_path, "The JSON config")->required();
  bench->add_option("--engine", bench_options.engine, "Derivative engine (overrides the config)");
  bench->add_option("--steps", bench_options.steps, "Timed steps (default 200)");
  bench->add_option("--warmup", bench_options.warmup, "Untimed steps first (default 20)");
  bench->add_option("--chunks", bench_options.chunks, "Timed chunks; the fastest is reported too");
  bench->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return report("error: ", std::string(e.what()) + "\nRun with --help for usage.", kExitBadInput);
  }
  if (options.config_path.empty() && !resume->parsed()) {
    return report("error: ", "no config given.\nUsage: pinn-train CONFIG.json (see --help)",
                  kExitBadInput);
  }

  configure_logging(verbosity);
  try {
    if (validate->parsed()) return validate_command(options);
    if (bench->parsed()) return bench_command(options, bench_options);
    util::install_stop_handlers();
    if (resume->parsed()) return resume_command(resume_directory);
    return train_command(options);
  } catch (const InputError& e) {
    return report("error: ", e.what(), kExitBadInput);
  } catch (const DeviceError& e) {
    return report("error: ", e.what(), kExitDevice);
  } catch (const TrainingError& e) {
    return report("error: ", e.what(), kExitTrainingFailed);
  } catch (const OutputError& e) {
    return report("error: ", e.what(), kExitOutputFailed);
  } catch (const c10::Error& e) {
    return report("internal error (LibTorch): ", e.what_without_backtrace(), kExitInternal);
  } catch (const std::exception& e) {
    return report("internal error: ", e.what(), kExitInternal);
  }
}

}  // namespace pinn::cli
