// Training stages: the "training" list of the config, run in order (e.g. Adam, then L-BFGS or a
// dense quasi-Newton method). This file holds what every stage shares: the keys common to all
// types (iterations, log_every, max_seconds, cuda_graph, objective), the Stage interface and the
// registry of stage types. Each type's own settings, reader and optimizer live in
// train/optimizers/, one file per optimizer, which gives the registry its record.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/reader.hpp"
#include "train/optimizers/adam.hpp"
#include "train/optimizers/lbfgs.hpp"
#include "train/optimizers/quasi_newton.hpp"

namespace pinn::train {

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
  // The settings of each type (train/optimizers/): only the stage's own type's are read.
  AdamSettings adam;
  LbfgsSettings lbfgs;
  QuasiNewtonSettings quasi_newton;
};

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
  // After a divergence (on_divergence: rollback) the trainer puts back the weights of the last
  // finite log point and gives the stage its state of then (`snapshot`, what save() wrote); the
  // stage resumes from it more carefully: Adam halves its learning rate (again at every
  // rollback), L-BFGS and the quasi-Newton methods restart their curvature history. Returns what
  // it changed, for the log.
  virtual std::string roll_back(torch::serialize::InputArchive& snapshot) = 0;
  // What is not finite in the optimizer's own state, though the loss and weights still are (""
  // when nothing): Adam's second moment overflows for gradients above 1e154 and then freezes its
  // steps at zero, a divergence the loss never shows.
  virtual std::string non_finite_state() const { return ""; }
};

// One record per stage type, made by its optimizer's file: how its own keys are read, how its
// optimizer is made, and what the rest of training needs to know of it.
struct StageType {
  std::function<void(config::Reader& reader, StageSpec& spec)> read;
  std::function<std::unique_ptr<Stage>(const StageSpec& spec,
                                       std::vector<torch::Tensor> parameters)>
      make;
  bool dense_hessian;  // keeps an n x n matrix: limited by max_parameters
  // Evaluates the loss once per iteration (Adam): progress counts iterations and has an ETA, and
  // `pinn-train bench` times its steps. Otherwise a line search makes several per iteration.
  bool one_evaluation_per_iteration;
};

// Reads the "training" list.
std::vector<StageSpec> read_stages(config::Reader& top);
std::vector<std::string> stage_types();
// The record of spec.type; an InputError at spec.where for a type that has none.
const StageType& stage_type(const StageSpec& spec);
// Checks what depends on the network's size (`trainable`: the number of trained scalars): a dense
// quasi-Newton stage over max_parameters is an InputError that names the memory H would take.
void check_stages(const std::vector<StageSpec>& stages, int64_t trainable);
// The stage `pinn-train bench` times: the first of `stages` that evaluates once per iteration
// (Adam), or a stage of that type with its default settings.
StageSpec benchmark_stage(const std::vector<StageSpec>& stages);

std::unique_ptr<Stage> make_stage(const StageSpec& spec, std::vector<torch::Tensor> parameters);

// ---- what the optimizers share: the meaning of the common keys ----

// Whether a stage that asked for a CUDA graph (`asked`) gets one: on a CUDA device, in a build
// with a CUDA LibTorch; otherwise it says why not, once per stage, and runs without.
bool use_cuda_graph(bool asked, const std::vector<torch::Tensor>& parameters,
                    const std::string& stage);
// f(L) and f'(L) for the loss L a stage sees.
std::pair<double, double> transformed(LossTransform kind, double loss);
// The gradients of f(L) from those of L, in tensor operations (no transfer to the host, so that a
// CUDA graph can hold them).
void transform_gradients(const torch::Tensor& loss, LossTransform kind,
                         const std::vector<torch::Tensor>& parameters);

}  // namespace pinn::train
