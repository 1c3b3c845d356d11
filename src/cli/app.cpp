// Argument parsing, logging set-up, and the mapping from errors to exit codes.
#include "cli/app.hpp"

#include <spdlog/spdlog.h>
#include <torch/version.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/launcher.hpp"
#include "cli/schema.hpp"
#include "cli/sweep.hpp"
#include "distributed/group.hpp"
#include "util/errors.hpp"
#include "util/logging.hpp"
#include "util/signals.hpp"

namespace pinn::cli {

namespace {

std::string version_text() {
  return std::string("pinn-train ") + PINN_TRAIN_VERSION + " (LibTorch " +
         std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH) + ", CUDA " +
         (torch::cuda::is_available() ? "available" : "not available") + ")";
}

// The run options shared by `train` and `validate` (and the bare `pinn-train CONFIG`).
void add_run_options(CLI::App& app, RunOptions& options, util::LogSettings& verbosity) {
  app.add_option("--output,-o", options.output, "Run directory (default: runs/<name>)");
  app.add_option("--device", options.device, "cpu, cuda, cuda:N or auto (overrides the config)");
  app.add_option("--seed", options.seed, "Random seed (overrides the config)");
  app.add_option("--threads", options.threads,
                 "CPU threads (overrides the config; default: OMP_NUM_THREADS, else every CPU this "
                 "process may use)");
  app.add_option("--set", options.overrides,
                 "Override a config value: KEY=VALUE, e.g. training[0].lr=1e-4 (repeatable)")
      ->take_all()
      ->allow_extra_args(false);
  app.add_flag("--force", options.force, "Replace an existing run directory");
  app.add_option("--data-dir", options.base_directory,
                 "Where the config's relative file paths start (default: the config's folder; for "
                 "eval and resume, the folder the run recorded)");
  app.add_flag("--resume", options.resume,
               "Continue the run in the run directory from its checkpoint, if it has one "
               "(otherwise start it): the same command can be requeued");
  app.add_flag("-v,--verbose", verbosity.verbose, "More log output");
  app.add_flag("-q,--quiet", verbosity.quiet, "Only errors");
  app.add_option("--log-format", verbosity.format,
                 "auto (text on a terminal, JSON lines otherwise), text or json")
      ->check(CLI::IsMember({"auto", "text", "json"}));
}

int report(const std::string& kind, const std::string& message, int code) {
  std::cerr << "pinn-train: " << kind << message << std::endl;
  return code;
}

constexpr const char* kUsage =
    "pinn-train: train physics-informed neural networks from one JSON file.\n"
    "  pinn-train CONFIG.json            train (same as: pinn-train train CONFIG.json)\n"
    "  pinn-train validate CONFIG.json   check a config without training\n"
    "  pinn-train resume RUN_DIR         continue a stopped run from its checkpoint\n"
    "  pinn-train launch --nproc N CONFIG.json   one run across N local processes\n"
    "  pinn-train sweep CONFIG.json      one run per combination of --grid values\n"
    "  pinn-train collect SWEEP_DIR      one CSV row per run of a sweep\n"
    "  pinn-train eval RUN_DIR --points IN.csv --out OUT.csv [--fields u,u_x,pde]\n"
    "  pinn-train bench CONFIG.json      time a training step (--engine, --steps)\n"
    "  pinn-train schema                 print the config's JSON Schema (for editors)";

// What the command line holds once parsed: every command's options, and the subcommands (one of
// which, or none for a bare CONFIG, was given).
struct CommandLine {
  RunOptions options;
  // `pinn-train CONFIG`'s positional argument. Apart from options.config_path, which the
  // subcommands' own positionals fill: a second positional after a subcommand's falls through to
  // this one, and must be refused rather than silently replace the first.
  std::string top_level_config;
  util::LogSettings verbosity;
  std::string resume_directory;
  SweepOptions sweep_options;
  std::string collect_directory;
  std::optional<std::string> collect_output;
  EvalOptions eval_options;
  BenchOptions bench_options;
  LaunchOptions launch_options;
  CLI::App* train = nullptr;
  CLI::App* launch = nullptr;
  CLI::App* validate = nullptr;
  CLI::App* resume = nullptr;
  CLI::App* sweep = nullptr;
  CLI::App* collect = nullptr;
  CLI::App* eval = nullptr;
  CLI::App* bench = nullptr;
  CLI::App* schema = nullptr;
};

void add_train_commands(CLI::App& app, CommandLine& line) {
  line.train = app.add_subcommand("train", "Train the network described by a config");
  line.train->add_option("config", line.options.config_path, "The JSON config")->required();
  line.train->fallthrough();
  line.validate = app.add_subcommand("validate", "Check a config without training");
  line.validate->add_option("config", line.options.config_path, "The JSON config")->required();
  line.validate->fallthrough();
  line.resume = app.add_subcommand("resume", "Continue a stopped run from its newest checkpoint");
  line.resume->add_option("run_directory", line.resume_directory, "The run directory")->required();
  line.resume->fallthrough();
}

void add_launch_command(CLI::App& app, CommandLine& line) {
  LaunchOptions& options = line.launch_options;
  line.launch = app.add_subcommand(
      "launch", "Train one run across N local processes (as torchrun --standalone would)");
  line.launch->add_option("--nproc", options.processes, "Processes (ranks)")->required();
  line.launch->add_option("--master-port", options.port, "Rendezvous port (default: a free one)");
  line.launch->add_option("--grace-seconds", options.grace_seconds,
                          "After a rank fails, how long the others may take to end (default 30)");
  line.launch
      ->add_option("config", line.options.config_path,
                   "The JSON config (or: resume RUN_DIR, as each rank's command line)")
      ->required();
  line.launch->allow_extras();
  line.launch->fallthrough();
}

void add_sweep_commands(CLI::App& app, CommandLine& line) {
  SweepOptions& options = line.sweep_options;
  CLI::App* sweep = app.add_subcommand(
      "sweep", "Write one config per combination of values; run them here or on Slurm");
  sweep->add_option("config", line.options.config_path, "The JSON config")->required();
  sweep->add_option("--grid", options.grid, "KEY=V1,V2,... (repeatable: crossed)")->take_all();
  sweep->add_option("--random", options.random, "N random draws of the --range values");
  sweep->add_option("--range", options.ranges, "KEY=LOW:HIGH, uniform (with --random)");
  sweep->add_option("--log-range", options.log_ranges, "KEY=LOW:HIGH, log-uniform (with --random)");
  sweep->add_option("--sweep-seed", options.sweep_seed, "Seed of the random draws");
  sweep->add_option("--run", options.run, "none (default), local or slurm")
      ->check(CLI::IsMember({"none", "local", "slurm"}));
  sweep->add_option("--jobs", options.jobs, "local: runs at once (default 1)");
  sweep->add_option("--partition", options.slurm.partition, "slurm: partition");
  sweep->add_option("--time", options.slurm.time, "slurm: time limit per run");
  sweep->add_option("--gpus", options.slurm.gpus, "slurm: GPUs per run");
  sweep->add_option("--cpus", options.slurm.cpus, "slurm: CPUs per run (per rank with --ntasks)");
  sweep
      ->add_option("--ntasks", options.slurm.ntasks,
                   "slurm: ranks per run; each array task srun's one run across them")
      ->check(CLI::Range(1, 1 << 20));
  sweep->add_option("--signal-seconds", options.slurm.signal_seconds,
                    "slurm: checkpoint this long before the time limit (default 120)");
  sweep->add_option("--max-parallel", options.slurm.max_parallel,
                    "slurm: at most this many runs at once");
  sweep->add_option("--sbatch", options.slurm.extra,
                    "slurm: another #SBATCH option, e.g. --sbatch=--account=abc (repeatable)");
  sweep->fallthrough();
  line.sweep = sweep;
  line.collect = app.add_subcommand("collect", "Gather a sweep's runs into one CSV table");
  line.collect->add_option("sweep_directory", line.collect_directory, "The sweep directory")
      ->required();
  line.collect->add_option("--table", line.collect_output,
                           "Where to write it (default: results.csv)");
  line.collect->fallthrough();
}

void add_eval_command(CLI::App& app, CommandLine& line) {
  EvalOptions& options = line.eval_options;
  CLI::App* eval = app.add_subcommand(
      "eval", "Evaluate a trained run's model and expressions of it at the points of a CSV");
  eval->add_option("run_directory", options.run_directory, "The run directory")->required();
  eval->add_option("--points", options.points, "CSV with a column per input")->required();
  eval->add_option("--out", options.out, "CSV to write")->required();
  eval->add_option("--fields", options.fields,
                   "Outputs, expressions (u_x, u_t + u*u_x, d(u,x,y)) or loss term names (their "
                   "residual); comma-separated (commas inside parentheses belong to the field); "
                   "default: the outputs");
  eval->fallthrough();
  line.eval = eval;
}

void add_bench_command(CLI::App& app, CommandLine& line) {
  BenchOptions& options = line.bench_options;
  CLI::App* bench =
      app.add_subcommand("bench", "Time the config's Adam step (no run directory); print JSON");
  bench->add_option("config", line.options.config_path, "The JSON config")->required();
  bench->add_option("--engine", options.engine, "Derivative engine (overrides the config)");
  bench->add_option("--steps", options.steps, "Timed steps (default 200)");
  bench->add_option("--warmup", options.warmup, "Untimed steps first (default 20)");
  bench->add_option("--chunks", options.chunks, "Timed chunks; the fastest is reported too");
  bench->fallthrough();
  line.bench = bench;
}

void add_schema_command(CLI::App& app, CommandLine& line) {
  line.schema = app.add_subcommand(
      "schema", "Print the JSON Schema of the config (what editors check and complete)");
}

// Runs the command the line names (train when none does).
int run_command(CommandLine& line) {
  const RunOptions& options = line.options;
  if (line.schema->parsed()) return schema_command();
  if (line.validate->parsed()) return validate_command(options);
  if (line.bench->parsed()) return bench_command(options, line.bench_options);
  if (line.collect->parsed()) return collect_command(line.collect_directory, line.collect_output);
  if (line.eval->parsed()) {
    line.eval_options.force = options.force;
    line.eval_options.data_directory = options.base_directory;
    return eval_command(line.eval_options);
  }
  if (line.sweep->parsed()) {
    line.sweep_options.base = options;
    line.sweep_options.directory = options.output;
    line.sweep_options.base.output.reset();
    return sweep_command(line.sweep_options);
  }
  if (line.launch->parsed()) return launch_command(line.launch_options);
  util::install_stop_handlers();
  if (line.resume->parsed()) return resume_command(line.resume_directory, options.base_directory);
  return train_command(options);
}

// A path the user named that the file system refuses (too long, missing, not a folder, not
// permitted) is bad input; anything else from the file system failed a write of the run.
int filesystem_exit_code(const std::filesystem::filesystem_error& e) {
  const std::error_code code = e.code();
  for (const auto input : {std::errc::filename_too_long, std::errc::no_such_file_or_directory,
                           std::errc::not_a_directory, std::errc::permission_denied,
                           std::errc::is_a_directory, std::errc::too_many_symbolic_link_levels,
                           std::errc::invalid_argument, std::errc::read_only_file_system}) {
    if (code == input) return kExitBadInput;
  }
  return kExitOutputFailed;
}

std::string filesystem_message(const std::filesystem::filesystem_error& e) {
  std::string path = e.path1().string();
  if (path.size() > 200) path = path.substr(0, 100) + "..." + path.substr(path.size() - 60);
  return (path.empty() ? "" : path + ": ") + e.code().message();
}

// `command`'s exit code, or the documented one of the error it raised, with its message.
int with_exit_codes(const std::function<int()>& command) {
  try {
    return command();
  } catch (const InputError& e) {
    return report("error: ", e.what(), kExitBadInput);
  } catch (const DeviceError& e) {
    return report("error: ", e.what(), kExitDevice);
  } catch (const TrainingError& e) {
    return report("error: ", e.what(), kExitTrainingFailed);
  } catch (const OutputError& e) {
    return report("error: ", e.what(), kExitOutputFailed);
  } catch (const distributed::DistributedError& e) {
    return report("error: ", e.what(), kExitDistributed);
  } catch (const std::filesystem::filesystem_error& e) {
    return report("error: ", filesystem_message(e), filesystem_exit_code(e));
  } catch (const c10::Error& e) {
    return report("internal error (LibTorch): ", e.what_without_backtrace(), kExitInternal);
  } catch (const std::exception& e) {
    return report("internal error: ", e.what(), kExitInternal);
  }
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{kUsage, "pinn-train"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(0, 1);

  CommandLine line;
  add_run_options(app, line.options, line.verbosity);
  app.add_option("config", line.top_level_config, "The JSON config to train");
  add_train_commands(app, line);
  add_launch_command(app, line);
  add_sweep_commands(app, line);
  add_eval_command(app, line);
  add_bench_command(app, line);
  add_schema_command(app, line);

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
  // `resume A B` must not resume A and ignore B (launch passes its arguments on to the ranks).
  if (!line.top_level_config.empty()) {
    const auto commands = app.get_subcommands();
    if (!commands.empty() && !line.launch->parsed()) {
      return report("error: ",
                    commands.front()->get_name() + ": unexpected argument '" +
                        line.top_level_config + "' (it takes one " +
                        (line.resume->parsed() || line.eval->parsed() ? "run directory"
                         : line.collect->parsed()                     ? "sweep directory"
                                                                      : "config") +
                        ")",
                    kExitBadInput);
    }
    if (commands.empty()) line.options.config_path = line.top_level_config;
  }
  if (line.options.config_path.empty() && !line.resume->parsed() && !line.collect->parsed() &&
      !line.eval->parsed() && !line.schema->parsed()) {
    return report("error: ", "no config given.\nUsage: pinn-train CONFIG.json (see --help)",
                  kExitBadInput);
  }
  util::configure_logging(line.verbosity);
  line.launch_options.child_arguments = child_arguments({argv + 1, argv + argc});
  return with_exit_codes([&] { return run_command(line); });
}

}  // namespace pinn::cli
