// The results of a run, written into its directory after training: predictions_<set>.csv at each
// evaluation set and reference.csv (the prediction against the reference) when the run finished,
// then summary.json, last, since its presence marks a finished run. Also the summary of a run
// whose writes failed, and reading a summary back.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "derivatives/engine.hpp"
#include "model/network.hpp"
#include "output/run_directory.hpp"
#include "problem/problem.hpp"
#include "train/checkpoint.hpp"
#include "train/objective.hpp"
#include "train/trainer.hpp"

namespace pinn::output {

// What evaluates expressions of the trained model: the engine made for it (the network with its
// transforms).
struct Evaluator {
  derivatives::Engine& engine;
  const train::ObjectiveContext& context;  // device, dtype and the problem's parameters
};

// The values of the set's fields at its points, N x fields, float64 on the CPU. Evaluation sets
// can be large: the fields are computed in batches. Across processes (the context's group) every
// rank computes its share and receives the whole.
torch::Tensor evaluate_fields(const problem::EvaluationSet& set, const Evaluator& evaluator);

// The other ranks' part of write_results (for a run that finished): the same evaluations, in the
// same order, to which they contribute their shares; they write nothing.
void evaluate_for_rank_zero(const problem::Problem& problem, const Evaluator& evaluator);

// What summary.json reports of a run besides its evaluations.
struct RunFacts {
  const config::RunSettings& settings;
  const problem::Problem& problem;
  const model::Network& network;                 // the raw network: its size
  const std::vector<torch::Tensor>& parameters;  // the problem's trained parameters
  std::string device;
  const train::TrainingReport& report;
  const std::vector<train::TermDiagnostics>& terms;  // each loss term at the final weights
  std::vector<std::string> metric_names;
  int64_t training_points = 0;
  // A run across processes: its ranks and what they exchanged (null: one process).
  nlohmann::ordered_json distributed = nullptr;
};

// Writes the predictions and reference.csv (when the run neither diverged nor was interrupted),
// then summary.json. `started`: when the command started, for the wall time. Returns the summary.
nlohmann::ordered_json write_results(const RunDirectory& run, const RunFacts& facts,
                                     const Evaluator& evaluator,
                                     std::chrono::steady_clock::time_point started);

// After a failed write (a full disk): summary.json says so, when there is room for it, with the
// newest complete checkpoint of `store` to resume from. If even that cannot be written, no summary
// is left behind that looks like a finished run's.
void write_failure_summary(const RunDirectory& run, const std::string& name,
                           const train::CheckpointStore& store, const std::string& failure);

// The summary of a finished or stopped run in `path`, or null.
nlohmann::ordered_json read_summary(const std::filesystem::path& path);

// How the engine's CPU kernels were chosen for each shape of call (measured, cached or forced,
// with each variant's time when measured): summary.json's and `bench`'s "cpu_kernel_choices";
// empty when the engine runs none.
nlohmann::ordered_json kernel_choices(const derivatives::Engine& engine);

}  // namespace pinn::output
