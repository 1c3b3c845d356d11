// Sweeps: `pinn-train sweep` turns one config and lists (or ranges) of values into one resolved
// config per combination, each checked like `validate`, plus a manifest; it can run them here
// (`--run local --jobs N`) or submit them to Slurm as a job array (`--run slurm`) whose tasks
// checkpoint on Slurm's warning signal and requeue themselves. `pinn-train collect` gathers the
// runs' summaries into one CSV table, finished or not.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace pinn::cli {

struct SlurmOptions {
  std::string partition;     // --partition (default: the cluster's)
  std::string time;          // --time, e.g. 02:00:00
  int gpus = 0;              // --gres=gpu:N per task
  int cpus = 0;              // --cpus-per-task (0: the cluster's default)
  int ntasks = 1;            // ranks per run: each array task srun's them (one run across them)
  int signal_seconds = 120;  // USR1 this long before the time limit: checkpoint, requeue
  int max_parallel = 0;      // %N on the array: at most N tasks at once (0: no limit)
  std::vector<std::string> extra;  // more #SBATCH lines, e.g. --account=abc
};

struct SweepOptions {
  RunOptions base;                       // the config, and --set / --seed for every run
  std::vector<std::string> grid;         // KEY=V1,V2,...: every value, crossed with the others
  int random = 0;                        // N random draws of the ranges (crossed with the grid)
  std::vector<std::string> ranges;       // KEY=LO:HI, uniform
  std::vector<std::string> log_ranges;   // KEY=LO:HI, log-uniform (learning rates)
  int sweep_seed = 0;                    // seeds the random draws
  std::optional<std::string> directory;  // default: sweeps/<name>
  std::string run = "none";              // none, local or slurm
  int jobs = 1;                          // local: runs at once
  SlurmOptions slurm;
};

// All return an exit code and throw the errors of util/errors.hpp.
int sweep_command(const SweepOptions& options);
// Writes SWEEP_DIR/results.csv (or `output`) and prints it.
int collect_command(const std::string& sweep_directory, const std::optional<std::string>& output);

}  // namespace pinn::cli
