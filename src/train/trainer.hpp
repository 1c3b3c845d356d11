// The trainer: runs the stages in order on the objective, logs progress every `log_every`
// iterations, records the history (step, stage, losses, parameters, reference metrics, elapsed
// time), and between iterations resamples or refines the point sets when they are due (an
// L-BFGS stage then restarts its curvature history).
#pragma once

#include <string>
#include <vector>

#include "train/metrics.hpp"
#include "train/objective.hpp"
#include "train/stage.hpp"

namespace pinn::train {

struct HistoryRow {
  int64_t step = 0;  // iterations done over all stages
  std::string stage;
  double total = 0;
  std::vector<double> terms;
  std::vector<double> parameters;  // the trainable problem parameters
  std::vector<double> metrics;     // empty when not measured at this row
  double elapsed_seconds = 0;
};

struct StageReport {
  std::string type;
  int iterations = 0;
  bool converged = false;  // stopped early on a tolerance
  bool timed_out = false;  // stopped at max_seconds
  double seconds = 0;
  double final_loss = 0;
};

struct TrainingReport {
  std::vector<HistoryRow> history;
  std::vector<StageReport> stages;
  std::vector<double> final_metrics;  // at the end, in the order of ReferenceMetrics::names()
  int64_t steps = 0;
  double seconds = 0;
  bool diverged = false;  // the loss became NaN or infinite
};

// The optimizers' closure: zeroes the gradients of `trainable`, evaluates the objective for
// training, back-propagates and returns the loss. `latest` receives the loss values.
LossAndGradient loss_and_gradient(Objective& objective, std::vector<torch::Tensor> trainable,
                                  LossValues& latest);

class Trainer {
 public:
  // `trainable`: the network's parameters and the problem's; `metrics` may be disabled.
  Trainer(Objective& objective, std::vector<torch::Tensor> trainable, ReferenceMetrics& metrics,
          std::vector<StageSpec> stages);
  TrainingReport run();

 private:
  HistoryRow record(const std::string& stage, const LossValues& values);
  void log_progress(const StageSpec& spec, int done, const HistoryRow& row, double ms_per_step);
  // How many iterations to run before the next log point, metric or point update.
  int next_chunk(const StageSpec& spec, int done_in_stage) const;
  bool metrics_due() const;

  Objective& objective_;
  std::vector<torch::Tensor> trainable_;
  ReferenceMetrics& metrics_;
  std::vector<StageSpec> stages_;
  int64_t step_ = 0;
  double elapsed_ = 0;
};

}  // namespace pinn::train
