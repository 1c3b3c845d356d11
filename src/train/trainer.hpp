// The trainer: runs the stages in order on the objective, logs progress every `log_every`
// iterations, records the history (step, stage, losses, parameters, reference metrics, elapsed
// time), and between iterations resamples or refines the point sets when they are due (an
// L-BFGS stage then restarts its curvature history). It writes checkpoints every
// `checkpoint_every` steps, at the end of each stage and when a stop is requested (a signal:
// Adam stops after its current step, L-BFGS at the end of its current chunk of iterations), and
// continues from one exactly: the same steps, losses and weights as a run never stopped.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "train/checkpoint.hpp"
#include "train/loss_weighting.hpp"
#include "train/metrics.hpp"
#include "train/objective.hpp"
#include "train/stage.hpp"

namespace pinn::train {

struct HistoryRow {
  int64_t step = 0;  // iterations done over all stages
  std::string stage;
  double total = 0;
  std::vector<double> terms;
  std::vector<double> parameters;    // the trainable problem parameters
  std::vector<double> metrics;       // empty when not measured at this row
  std::vector<double> loss_weights;  // the adaptive weights, one per term (with "weighting")
  std::vector<double> causal_min;    // the smallest chunk weight of each causal term
  double learning_rate = std::numeric_limits<double>::quiet_NaN();  // Adam's; NaN otherwise
  double elapsed_seconds = 0;
};

struct StageReport {
  std::string type;
  int iterations = 0;
  int64_t evaluations = 0;  // of the loss and gradient, where they differ from the iterations
  // Why the stage ended: "iterations" (all of them ran), "converged" (a tolerance holds),
  // "stalled" (no progress), "max_seconds" or "diverged"; empty while it runs (and in the
  // checkpoint of a stopped run, which continues it).
  std::string stop;
  double seconds = 0;
  double final_loss = 0;
  nlohmann::json details = nlohmann::json::object();  // the optimizer's own (Stage::details)

  bool converged() const { return stop == "converged"; }
};

// A stage's report as summary.json and checkpoints write it, and back (checkpoints from before
// "stop" existed hold "converged" and "timed_out" flags instead).
nlohmann::json to_json(const StageReport& stage);
StageReport stage_report_from_json(const nlohmann::json& json);

// A return to the last finite log point after the loss became NaN or infinite.
struct Rollback {
  int64_t diverged_at = 0;  // the step whose loss was not finite
  int64_t back_to = 0;      // the step whose weights and optimizer state were put back
  std::string change;       // what the stage changed ("learning rate halved to 5e-4")
};
nlohmann::json to_json(const Rollback& rollback);

// The weights of the best log point (output.keep_best): the lowest mean relative L2 error against
// the reference when there is one, else the lowest total loss. `weights`: every trainable tensor.
struct BestWeights {
  int64_t step = -1;      // -1: none yet
  std::string criterion;  // "reference" or "loss"
  double score = 0;       // the mean l2_rel_* error, or the loss
  HistoryRow row;         // the losses (and metrics) at that step
  std::vector<torch::Tensor> weights;
};

struct TrainingReport {
  std::vector<HistoryRow> history;
  std::vector<StageReport> stages;
  std::vector<double> final_metrics;  // at the end, in the order of ReferenceMetrics::names()
  int64_t steps = 0;
  double seconds = 0;
  bool diverged = false;  // the loss became NaN or infinite
  // The step whose weights the trainable tensors hold at the end: the last one, or after a
  // divergence the last step whose loss and weights were finite (the weights are put back).
  int64_t weights_step = 0;
  bool interrupted = false;  // stopped on request (a signal) after writing a checkpoint
  std::vector<Rollback> rollbacks;
  std::optional<BestWeights> best;  // with keep_best
};

// What a run does when its loss (or its weights) become NaN or infinite at a log point: the
// top-level "on_divergence", "rollback" (the default) or "stop", and "max_rollbacks".
struct DivergencePolicy {
  bool roll_back = true;
  // Rollbacks in a row (none of which got past the step that diverged) before the run stops.
  int max_rollbacks = 5;
};
DivergencePolicy read_divergence_policy(config::Reader& top);

struct CheckpointSettings {
  CheckpointStore* store = nullptr;  // none: no checkpoints
  int every = 0;                     // steps between checkpoints (0: only at stage ends and stops)
};

// The optimizers' closure: the objective's loss, with its gradient in the .grad of `trainable`
// (Objective::loss_and_gradient). `latest` receives the loss values.
LossAndGradient loss_and_gradient(Objective& objective, std::vector<torch::Tensor> trainable,
                                  LossValues& latest);

class Trainer {
 public:
  // `trainable`: the network's parameters and the problem's; `metrics` may be disabled;
  // `weighting` (adaptive loss weights) may be null.
  Trainer(Objective& objective, std::vector<torch::Tensor> trainable, ReferenceMetrics& metrics,
          std::vector<StageSpec> stages, CheckpointSettings checkpoints = {},
          LossWeighting* weighting = nullptr, DivergencePolicy divergence = {});
  // Keeps the weights of the best log point (TrainingReport::best): by the reference error when
  // `metrics` are enabled (then measured at every log point), else by the loss.
  void keep_best_weights();
  // Trains from the start, or from where `resume` (a checkpoint of the same config) stopped.
  TrainingReport run(torch::serialize::InputArchive* resume = nullptr);

 private:
  // Where the run stands, what a checkpoint records besides the tensors.
  nlohmann::json position() const;
  void restore(torch::serialize::InputArchive& archive);
  // Writes a checkpoint unless the weights are not finite (a diverging run keeps its last good
  // checkpoints instead of replacing them with NaN).
  void write_checkpoint(const Stage* stage);
  bool weights_finite() const;
  // Keeps a copy of the weights at this step, if they are finite (whether they are): what a
  // diverged run returns.
  bool remember_finite_weights();
  void restore_finite_weights();
  // The weights (remember_finite_weights) and, to roll back to, the stage's state and position.
  void take_snapshot(const Stage& stage);
  // What went non-finite at this log point: the loss, the weights or the stage's state ("" when
  // nothing did).
  std::string what_diverged(const Stage& stage, const HistoryRow& row) const;
  // Back to the snapshot with a more careful stage; false when the policy says stop (or the
  // rollbacks in a row are used up).
  bool roll_back(Stage& stage, const std::string& divergence);
  bool checkpoint_due() const;
  bool consistency_check_due() const;
  // A TrainingError unless every rank holds the same weights (distributed.check_every).
  void check_weights_agree();
  // Every rank takes rank 0's weights.
  void share_weights();
  // One stage from its current position; false when the run must end (diverged, interrupted).
  bool run_stage(const StageSpec& spec, Stage& stage, const LossAndGradient& closure);
  void log_early_stop(const StageSpec& spec) const;
  LossAndGradient with_live_line(const StageSpec& spec, const LossAndGradient& closure,
                                 std::chrono::steady_clock::time_point chunk_start) const;

  HistoryRow record(const std::string& stage, const LossValues& values,
                    double learning_rate = std::numeric_limits<double>::quiet_NaN());
  void log_progress(const StageSpec& spec, int done, const HistoryRow& row, double ms_per_step);
  // How many iterations to run before the next log point, metric or point update.
  int next_chunk(const StageSpec& spec, int done_in_stage) const;
  bool metrics_due() const;
  // With keep_best: takes the weights when `row` is the best log point so far.
  void consider_best(const HistoryRow& row);
  double best_score(const HistoryRow& row) const;
  // Recomputes the adaptive loss weights when they are due at this step; whether it did.
  bool update_loss_weights();

  Objective& objective_;
  std::vector<torch::Tensor> trainable_;
  ReferenceMetrics& metrics_;
  std::vector<StageSpec> stages_;
  CheckpointSettings checkpoints_;
  LossWeighting* weighting_;
  TrainingReport report_;
  size_t stage_index_ = 0;  // the stage running (stages_.size(): all done)
  StageReport current_;     // the running stage's report so far
  int64_t step_ = 0;
  double elapsed_ = 0;
  std::vector<torch::Tensor> finite_weights_;
  int64_t finite_step_ = 0;
  DivergencePolicy divergence_;
  // Where a rollback returns: the weights, the stage's state and the position at one step.
  struct Snapshot {
    int64_t step = -1;  // -1: none yet
    StageReport stage;  // current_ then
    size_t history_rows = 0;
    std::string stage_state;  // Stage::save, serialized
    std::vector<torch::Tensor> weights;
  } snapshot_;
  bool keep_best_ = false;
  int rollbacks_in_a_row_ = 0;
  int64_t diverged_at_ = -1;  // the latest step whose loss was not finite
};

}  // namespace pinn::train
