// Adaptive loss weights, the config's top-level "weighting": every `every` steps (from step 0)
// each term's weight λ_i is moved towards a balancing target λ̂_i, λ ← momentum·λ +
// (1 - momentum)·λ̂, and held fixed (no gradient through it) in between; a term's configured
// "weight" multiplies its λ. The targets, as jaxpi computes them (jaxpi/models.py; Wang, Wang,
// Bhartari & Perdikaris, "An expert's guide to training physics-informed neural networks",
// arXiv 2308.08468):
//   grad_norm: λ̂_i = mean_j ‖∇θ L_j‖ / ‖∇θ L_i‖ — one evaluation of every term on the tensor path,
//              then one backward pass per term;
//   ntk:       λ̂_i = mean_j tr(K_j) / tr(K_i), tr(K_i) = mean over the term's points of
//              ‖∇θ r_i(x)‖² — taken over `ntk_points` points of each term drawn at random, one
//              backward pass per point.
// The mean runs over the weighted terms ("terms", default every term); the others keep λ = 1.
#pragma once

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "config/reader.hpp"
#include "problem/problem.hpp"
#include "train/objective.hpp"

namespace pinn::train {

struct WeightingSettings {
  std::string method = "grad_norm";
  int every = 1000;
  double momentum = 0.9;
  std::vector<size_t> terms;  // the weighted terms, in problem order
  int ntk_points = 128;       // ntk: the points per term whose gradients are taken
};

// One record per method: its targets λ̂ for the weighted terms (in their order).
struct WeightingMethod {
  std::function<std::vector<double>(Objective& objective, const WeightingSettings& settings,
                                    const std::vector<torch::Tensor>& trainable)>
      targets;
  // Whether it draws random points (ntk): each rank would draw from its own share, and their
  // generators would part, so it does not run across processes.
  bool draws_points = false;
};

std::vector<std::string> weighting_methods();
// Whether the configured method draws random points (WeightingMethod::draws_points).
bool draws_points(const WeightingSettings& settings);

// Reads "weighting" when present; terms are named by their loss term names (did you mean).
std::optional<WeightingSettings> read_weighting(config::Reader& top,
                                                const problem::Problem& problem);

class LossWeighting {
 public:
  LossWeighting(WeightingSettings settings, size_t terms);

  // Whether the weights are recomputed at `step`, and the first step after `step` when they are.
  bool due(int64_t step) const { return step % settings_.every == 0; }
  int64_t next_update(int64_t step) const { return (step / settings_.every + 1) * settings_.every; }
  // Recomputes the weights at the current parameters and hands them to the objective.
  void update(Objective& objective, const std::vector<torch::Tensor>& trainable);
  const std::vector<double>& weights() const { return weights_; }
  const WeightingSettings& settings() const { return settings_; }

  // For checkpoints.
  nlohmann::json state() const { return weights_; }
  void restore(const nlohmann::json& state, Objective& objective);

 private:
  WeightingSettings settings_;
  std::vector<double> weights_;  // λ, one per term
};

// The targets' ingredients, exposed for tests: ‖∇θ L_i‖ for each weighted term, and tr(K_i).
std::vector<double> term_gradient_norms(Objective& objective, const std::vector<size_t>& terms,
                                        const std::vector<torch::Tensor>& trainable);
std::vector<double> ntk_traces(Objective& objective, const std::vector<size_t>& terms, int points,
                               const std::vector<torch::Tensor>& trainable);

}  // namespace pinn::train
