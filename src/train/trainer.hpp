// The trainer: runs the stages in order on the objective, logs progress every `log_every`
// iterations, and records the history (step, stage, losses, elapsed time).
#pragma once

#include <string>
#include <vector>

#include "train/objective.hpp"
#include "train/stage.hpp"

namespace pinn::train {

struct HistoryRow {
  int64_t step = 0;  // iterations done over all stages
  std::string stage;
  double total = 0;
  std::vector<double> terms;
  double elapsed_seconds = 0;
};

struct StageReport {
  std::string type;
  int iterations = 0;
  bool converged = false;  // stopped early on a tolerance
  double seconds = 0;
  double final_loss = 0;
};

struct TrainingReport {
  std::vector<HistoryRow> history;
  std::vector<StageReport> stages;
  int64_t steps = 0;
  double seconds = 0;
  bool diverged = false;  // the loss became NaN or infinite
};

class Trainer {
 public:
  Trainer(Objective& objective, model::Network& network, std::vector<StageSpec> stages);
  TrainingReport run();

 private:
  HistoryRow record(const std::string& stage, const LossValues& values);
  void log_progress(const StageSpec& spec, int done, const HistoryRow& row, double ms_per_step);

  Objective& objective_;
  model::Network& network_;
  std::vector<StageSpec> stages_;
  int64_t step_ = 0;
  double elapsed_ = 0;
};

}  // namespace pinn::train
