// The commands behind the CLI: `validate` builds everything a run needs without training;
// `train` does the same, then trains and writes the run directory; `resume` continues a stopped
// run from its checkpoint; `bench` times a training step.
// They follow the data flow: config -> problem -> model -> derivatives -> trainer -> outputs.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pinn::cli {

struct RunOptions {
  std::string config_path;
  std::vector<std::string> overrides;  // --set KEY=VALUE, in order
  // KEY=VALUE that another option sets (--engine; a sweep's --grid), with that option's words for
  // messages; applied after `overrides`.
  std::vector<std::pair<std::string, std::string>> option_overrides;
  std::optional<std::string> output;  // --output
  std::optional<std::string> device;  // --device
  std::optional<int> seed;            // --seed
  std::optional<int> threads;         // --threads
  bool force = false;                 // --force: replace an existing run directory
  bool resume = false;  // --resume: continue the run directory's run if it has a checkpoint
  // Where the config's relative paths (data files) start; default: the config's directory.
  std::optional<std::string> base_directory;
};

struct BenchOptions {
  std::optional<std::string> engine;  // --engine: overrides the config's "derivatives"
  int steps = 200;                    // timed Adam steps
  int warmup = 20;                    // untimed steps first
  int chunks = 5;                     // the timed steps in this many equal chunks
};

struct EvalOptions {
  std::string run_directory;
  std::string points;               // CSV with a column per input
  std::string out;                  // CSV written: the inputs, then the fields
  std::vector<std::string> fields;  // expressions or loss term names (their residuals)
  bool force = false;               // replace `out` if it exists
  // --data-dir: where the run's relative data paths start (default: as RUN_DIR/source.json says)
  std::optional<std::string> data_directory;
};

// All return an exit code and throw the errors of util/errors.hpp.
int validate_command(const RunOptions& options);
int train_command(const RunOptions& options);
// Evaluates a trained run's model (and any expression of it) at the points of a CSV file.
int eval_command(const EvalOptions& options);
// Continues the run in `run_directory` from its newest readable checkpoint; `data_directory`
// (--data-dir) overrides where its relative data paths start.
int resume_command(const std::string& run_directory,
                   const std::optional<std::string>& data_directory);
// Times the config's Adam step and prints one JSON line (no run directory).
int bench_command(const RunOptions& options, const BenchOptions& bench);

}  // namespace pinn::cli
