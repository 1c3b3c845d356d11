// What the stages share: the registry of stage types (one record each, made in
// train/optimizers/), the keys common to every type, and their meaning for the optimizers.
#include "train/stage.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include <spdlog/spdlog.h>

#include "train/cuda_graph.hpp"
#include "util/errors.hpp"
#include "util/memory.hpp"
#include "util/registry.hpp"

namespace pinn::train {

namespace {

using config::Reader;

const Registry<StageType>& registry() {
  static const Registry<StageType> table(
      "stage type", {{"adam", adam_stage_type()},
                     {"lbfgs", lbfgs_stage_type()},
                     {"bfgs", quasi_newton_stage_type(QuasiNewtonMethod::bfgs)},
                     {"ssbfgs", quasi_newton_stage_type(QuasiNewtonMethod::ssbfgs)},
                     {"ssbroyden", quasi_newton_stage_type(QuasiNewtonMethod::ssbroyden)}});
  return table;
}

const Registry<LossTransform>& objectives() {
  static const Registry<LossTransform> table("objective",
                                             {{"mean_square", LossTransform::mean_square},
                                              {"sqrt", LossTransform::sqrt},
                                              {"log", LossTransform::log}});
  return table;
}

LossTransform read_objective(Reader& reader) {
  const std::string name = reader.choice("objective", objectives().names(), "mean_square");
  return objectives().get(name, reader.where("objective"));
}

// The keys every stage has; the type's own are its record's.
StageSpec read_stage(Reader& reader) {
  StageSpec spec;
  spec.where = reader.where();
  reader.describe("type", "the stage's optimizer (docs/optimizers.md)");
  spec.type = reader.choice("type", stage_types());
  spec.iterations = reader.positive_int("iterations", spec.iterations);
  spec.log_every = reader.positive_int("log_every", spec.log_every);
  spec.max_seconds = reader.non_negative("max_seconds", spec.max_seconds);
  spec.cuda_graph = reader.get_or("cuda_graph", spec.cuda_graph);
  spec.objective = read_objective(reader);
  stage_type(spec).read(reader, spec);
  reader.finish();
  return spec;
}

}  // namespace

double Stage::learning_rate() const {
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::string> stage_types() {
  return registry().names();
}

const StageType& stage_type(const StageSpec& spec) {
  return registry().get(spec.type, spec.where);
}

std::vector<StageSpec> read_stages(Reader& top) {
  std::vector<StageSpec> stages;
  auto list = top.objects("training");
  if (list.empty()) top.fail("training", "expected at least one stage, e.g. {\"type\": \"adam\"}");
  for (auto& reader : list)
    stages.push_back(read_stage(reader));
  return stages;
}

void check_stages(const std::vector<StageSpec>& stages, int64_t trainable) {
  for (const auto& spec : stages) {
    if (!stage_type(spec).dense_hessian || trainable <= spec.quasi_newton.max_parameters) {
      continue;
    }
    const double bytes = 8.0 * static_cast<double>(trainable) * static_cast<double>(trainable);
    throw InputError(spec.where + "/max_parameters",
                     spec.type + " keeps a dense inverse Hessian of " + std::to_string(trainable) +
                         " x " + std::to_string(trainable) + " (" + util::format_bytes(bytes) +
                         ") for this network's " + std::to_string(trainable) +
                         " trained parameters, above max_parameters (" +
                         std::to_string(spec.quasi_newton.max_parameters) +
                         "); use \"lbfgs\" (memory linear in the parameters) or a smaller network, "
                         "or raise max_parameters");
  }
}

StageSpec benchmark_stage(const std::vector<StageSpec>& stages) {
  for (const auto& spec : stages) {
    if (stage_type(spec).one_evaluation_per_iteration) return spec;
  }
  StageSpec spec;  // the default settings, of the (one) type that can be timed per step
  for (const auto& [name, type] : registry().entries()) {
    if (type.one_evaluation_per_iteration) spec.type = name;
  }
  return spec;
}

std::unique_ptr<Stage> make_stage(const StageSpec& spec, std::vector<torch::Tensor> parameters) {
  return stage_type(spec).make(spec, std::move(parameters));
}

// ---- the common keys' meaning ----

bool use_cuda_graph(bool asked, const std::vector<torch::Tensor>& parameters,
                    const std::string& stage) {
  if (!asked) return false;
  if (parameters.empty() || !parameters.front().is_cuda()) {
    spdlog::warn("{}: cuda_graph applies on a CUDA device only; running without it", stage);
    return false;
  }
  if (!CudaGraphRunner::supported()) {
    spdlog::warn("{}: this build's LibTorch cannot capture CUDA graphs; running without them",
                 stage);
    return false;
  }
  return true;
}

std::pair<double, double> transformed(LossTransform kind, double loss) {
  switch (kind) {
    case LossTransform::sqrt: {
      const double root = std::sqrt(loss);
      return {root, 0.5 / root};
    }
    case LossTransform::log:
      return {std::log(loss), 1 / loss};
    case LossTransform::mean_square:
      break;
  }
  return {loss, 1.0};
}

void transform_gradients(const torch::Tensor& loss, LossTransform kind,
                         const std::vector<torch::Tensor>& parameters) {
  if (kind == LossTransform::mean_square) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor factor =
      kind == LossTransform::sqrt ? 0.5 * torch::rsqrt(loss.detach()) : 1 / loss.detach();
  for (const auto& parameter : parameters) {
    if (parameter.grad().defined()) parameter.mutable_grad().mul_(factor);
  }
}

}  // namespace pinn::train
