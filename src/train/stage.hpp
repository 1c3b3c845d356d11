// Training stages: the "training" list of the config, run in order (e.g. Adam, then L-BFGS or a
// dense quasi-Newton method). One record per stage "type" reads its options (defaults live in
// the settings structs below) and makes its optimizer.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/reader.hpp"
#include "train/cuda_graph.hpp"
#include "train/lr_schedule.hpp"
#include "train/quasi_newton.hpp"

namespace pinn::train {

struct AdamSettings {
  double lr = 1e-3;
  std::vector<double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  LearningRateSchedule schedule;
};

struct LbfgsSettings {
  double lr = 1.0;
  int history = 100;
  std::string line_search = "strong_wolfe";  // or "none"
  double tolerance_grad = 1e-9;              // stop when the largest gradient entry is below
  double tolerance_change = 1e-12;  // no progress: the loss changes less than this relative to
                                    // itself, or every step entry is below it
};

// The dense quasi-Newton stages: bfgs, ssbfgs, ssbroyden.
struct QuasiNewtonSettings {
  QuasiNewtonMethod method = QuasiNewtonMethod::ssbroyden;
  std::string line_search = "strong_wolfe";  // or "none": unit steps
  int restart_every = 500;
  double tolerance_grad = 0;
  int max_parameters = 20000;  // H takes 8 n^2 bytes: 3.2 GB at 20000
};

// The function of the loss L a stage minimises (history.csv records L itself): L, sqrt(L) or
// log(L), as Urbán, Stefanou and Pons (arXiv 2405.04230) propose for quasi-Newton stages.
enum class LossTransform { mean_square, sqrt, log };

struct StageSpec {
  std::string type;   // a name of stage_types()
  std::string where;  // the stage's JSON path, for errors found after reading
  int iterations = 1000;
  int log_every = 100;
  double max_seconds = 0;   // stop the stage after this much training time (0: no limit)
  bool cuda_graph = false;  // on CUDA: capture the step (Adam) or the closure (L-BFGS) once
  LossTransform objective = LossTransform::mean_square;
  AdamSettings adam;
  LbfgsSettings lbfgs;
  QuasiNewtonSettings quasi_newton;
};

// Reads the "training" list.
std::vector<StageSpec> read_stages(config::Reader& top);
std::vector<std::string> stage_types();
// Checks what depends on the network's size (`trainable`: the number of trained scalars): a dense
// quasi-Newton stage over max_parameters is an InputError that names the memory H would take.
void check_stages(const std::vector<StageSpec>& stages, int64_t trainable);

// Computes the loss, back-propagates it and returns it (the optimizer's closure).
using LossAndGradient = std::function<torch::Tensor()>;

class Stage {
 public:
  virtual ~Stage() = default;
  // Runs up to `count` iterations; returns how many ran (fewer: the optimizer stopped itself,
  // for the reason stop_reason() gives).
  virtual int advance(int count, const LossAndGradient& closure) = 0;
  // Why the last advance() ran fewer iterations than asked: "converged" (a tolerance holds) or
  // "stalled" (no progress).
  virtual std::string stop_reason() const { return "converged"; }
  // Evaluations of the loss and gradient so far, where they differ from the iterations (L-BFGS's
  // line search makes several per iteration); 0 otherwise.
  virtual int64_t evaluations() const { return 0; }
  // The learning rate of the last step, for stages that have one (Adam); NaN otherwise.
  virtual double learning_rate() const;
  // What the optimizer reports of itself for summary.json (an object; empty: nothing).
  virtual nlohmann::json details() const { return nlohmann::json::object(); }
  // The objective changed (points were resampled or refined): forget what assumed the old one.
  // `new_shapes`: some point set changed size (a refinement), not only its values.
  virtual void restart(bool new_shapes) { (void)new_shapes; }
  // Whether its steps now replay a captured CUDA graph (cuda_graph: true, and the capture worked).
  virtual bool replays_cuda_graph() const { return false; }
  // The optimizer's state (moments, curvature history, counters), for checkpoints: a stage that
  // loads what another saved continues exactly as that one would have.
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;
};

std::unique_ptr<Stage> make_stage(const StageSpec& spec, std::vector<torch::Tensor> parameters);

}  // namespace pinn::train
