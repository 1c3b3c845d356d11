// Adaptive loss weights: the methods, the reader and the update.
#include "train/loss_weighting.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/errors.hpp"
#include "util/registry.hpp"
#include "util/suggest.hpp"

namespace pinn::train {

namespace {

// Σ over `gradients` of ‖g‖², an undefined gradient (a tensor the loss does not reach) as zero.
double squared_norm(const std::vector<torch::Tensor>& gradients) {
  double sum = 0;
  for (const auto& gradient : gradients) {
    if (gradient.defined()) sum += gradient.to(torch::kFloat64).square().sum().item<double>();
  }
  return sum;
}

// Across ranks each term's loss is this rank's part of it: its gradient is the sum of the ranks'
// (one flat buffer; an undefined gradient counts as zeros).
torch::Tensor summed_over_ranks(Objective& objective, const std::vector<torch::Tensor>& gradients) {
  std::vector<torch::Tensor> flat;
  for (const auto& gradient : gradients) {
    if (gradient.defined()) flat.push_back(gradient.reshape({-1}).to(torch::kFloat64));
  }
  torch::Tensor all = flat.empty() ? torch::zeros({1}, torch::kFloat64) : torch::cat(flat);
  // Every rank must bring a buffer of one size: undefined gradients are the same on every rank
  // (the same network and terms), so the sizes agree.
  objective.group().sum(all);
  return all;
}

std::vector<torch::Tensor> requiring_grad(const std::vector<torch::Tensor>& trainable) {
  std::vector<torch::Tensor> result;
  for (const auto& tensor : trainable) {
    if (tensor.requires_grad()) result.push_back(tensor);
  }
  return result;
}

// λ̂_i = mean_j s_j / s_i; a term whose s vanishes keeps λ̂ = 1 (nothing to balance it by).
std::vector<double> balancing_targets(const std::vector<double>& sizes) {
  const double mean =
      std::accumulate(sizes.begin(), sizes.end(), 0.0) / static_cast<double>(sizes.size());
  std::vector<double> targets;
  for (double size : sizes)
    targets.push_back(size > 0 && std::isfinite(size) ? mean / size : 1.0);
  return targets;
}

const Registry<WeightingMethod>& methods() {
  static const Registry<WeightingMethod> table{
      "weighting method",
      {{"grad_norm",
        {[](Objective& objective, const WeightingSettings& settings,
            const std::vector<torch::Tensor>& trainable) {
          return balancing_targets(term_gradient_norms(objective, settings.terms, trainable));
        }}},
       {"ntk",
        {[](Objective& objective, const WeightingSettings& settings,
            const std::vector<torch::Tensor>& trainable) {
           return balancing_targets(
               ntk_traces(objective, settings.terms, settings.ntk_points, trainable));
         },
         /*draws_points=*/true}}}};
  return table;
}

}  // namespace

std::vector<std::string> weighting_methods() {
  return methods().names();
}

bool draws_points(const WeightingSettings& settings) {
  return methods().get(settings.method).draws_points;
}

std::vector<double> term_gradient_norms(Objective& objective, const std::vector<size_t>& terms,
                                        const std::vector<torch::Tensor>& trainable) {
  const auto parameters = requiring_grad(trainable);
  const auto losses = objective.unweighted_term_losses();
  std::vector<double> norms;
  for (size_t k = 0; k < terms.size(); ++k) {
    const bool last = k + 1 == terms.size();
    auto gradients = torch::autograd::grad({losses[terms[k]]}, parameters, {},
                                           /*retain_graph=*/!last, /*create_graph=*/false,
                                           /*allow_unused=*/true);
    if (objective.group().distributed()) gradients = {summed_over_ranks(objective, gradients)};
    norms.push_back(std::sqrt(squared_norm(gradients)));
  }
  return norms;
}

std::vector<double> ntk_traces(Objective& objective, const std::vector<size_t>& terms, int points,
                               const std::vector<torch::Tensor>& trainable) {
  const auto parameters = requiring_grad(trainable);
  std::vector<double> traces;
  for (size_t term : terms) {
    const torch::Tensor residual = objective.sampled_residual(term, points);
    const int64_t n = residual.size(0);
    double sum = 0;
    for (int64_t p = 0; p < n; ++p) {
      const auto gradients =
          torch::autograd::grad({residual[p]}, parameters, {}, /*retain_graph=*/p + 1 < n,
                                /*create_graph=*/false, /*allow_unused=*/true);
      sum += squared_norm(gradients);
    }
    traces.push_back(n > 0 ? sum / static_cast<double>(n) : 0.0);
  }
  return traces;
}

std::optional<WeightingSettings> read_weighting(config::Reader& top,
                                                const problem::Problem& problem) {
  top.describe("weighting",
               "adaptive loss weights (grad_norm or ntk), recomputed every `every` steps");
  if (!top.has("weighting")) {
    top.accept("weighting");
    return std::nullopt;
  }
  config::Reader reader = top.object("weighting");
  WeightingSettings settings;
  reader.describe("method", "grad_norm: balance the terms' gradient norms; ntk: their NTK traces");
  settings.method = reader.choice("method", weighting_methods(), settings.method);
  reader.describe("every", "steps between updates of the weights (the first at step 0)");
  settings.every = reader.positive_int("every", settings.every);
  reader.describe("momentum", "λ ← momentum·λ + (1 - momentum)·target at each update");
  settings.momentum = reader.get_or("momentum", settings.momentum);
  if (!(settings.momentum >= 0 && settings.momentum < 1)) {
    reader.fail("momentum", "expected a number in [0, 1)");
  }
  reader.describe("ntk_points", "ntk: the points of each term whose gradients the trace takes");
  settings.ntk_points = reader.positive_int("ntk_points", settings.ntk_points);
  std::vector<std::string> names;
  for (const auto& term : problem.losses)
    names.push_back(term.name);
  reader.describe("terms", "the loss terms weighted (default: every term)");
  const auto chosen = reader.get_or("terms", names);
  const auto fail_at = [&](size_t i, const std::string& message) {
    throw InputError(reader.where("terms") + "/" + std::to_string(i), message);
  };
  for (size_t i = 0; i < chosen.size(); ++i) {
    const auto found = std::find(names.begin(), names.end(), chosen[i]);
    if (found == names.end()) {
      fail_at(i, "no loss term named '" + chosen[i] + "'" + did_you_mean(chosen[i], names) +
                     "; the terms are " + quoted_list(names, "and"));
    }
    const auto index = static_cast<size_t>(found - names.begin());
    if (std::find(settings.terms.begin(), settings.terms.end(), index) != settings.terms.end()) {
      fail_at(i, "the term '" + chosen[i] + "' is named twice");
    }
    settings.terms.push_back(index);
  }
  if (settings.terms.empty()) reader.fail("terms", "expected at least one loss term");
  std::sort(settings.terms.begin(), settings.terms.end());
  reader.finish();
  return settings;
}

LossWeighting::LossWeighting(WeightingSettings settings, size_t terms)
    : settings_(std::move(settings)), weights_(terms, 1.0) {}

void LossWeighting::update(Objective& objective, const std::vector<torch::Tensor>& trainable) {
  const auto targets = methods().get(settings_.method).targets(objective, settings_, trainable);
  for (size_t k = 0; k < settings_.terms.size(); ++k) {
    double& weight = weights_[settings_.terms[k]];
    weight = settings_.momentum * weight + (1 - settings_.momentum) * targets[k];
  }
  objective.set_adaptive_weights(weights_);
}

void LossWeighting::restore(const nlohmann::json& state, Objective& objective) {
  const auto weights = state.get<std::vector<double>>();
  if (weights.size() != weights_.size()) {
    throw InputError("the checkpoint's loss weights are for another config");
  }
  weights_ = weights;
  objective.set_adaptive_weights(weights_);
}

}  // namespace pinn::train
