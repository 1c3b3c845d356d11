// The fused loss: Σ_k weight_k · mean(r_k²) of pointwise loss terms (a term in chunks: a weighted
// sum of its chunks' means) with their residuals as
// compiled pointwise programs, evaluated inside an engine's pass (the Taylor engine's tiled pass:
// taylor/tiled_fused_loss.hpp).
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "expr/pointwise.hpp"

namespace pinn::derivatives {

struct FusedTerm {
  const expr::PointwiseProgram* program;
  double weight;  // the term's weight; the mean divides by the set's size
  // A term in chunks (causal training): chunk k is the set's points [ends[k-1], ends[k]) and
  // enters as weight · chunk_weights[k] · (its mean of r²). Empty: one chunk of every point.
  std::vector<int64_t> chunk_ends = {};
  std::vector<double> chunk_weights = {};
};

struct FusedValues {
  torch::Tensor total;               // scalar; differentiable for the weights when asked
  std::vector<torch::Tensor> terms;  // each term's value, detached
  // Per term, each chunk's mean of r² (empty for a term not in chunks).
  std::vector<std::vector<double>> chunk_means;
};

// The terms of one point set, with its per-point fields (normals, data).
struct FusedSet {
  torch::Tensor points;
  const std::map<std::string, torch::Tensor>* fields;
  std::vector<FusedTerm> terms;
};

// The loss of pointwise terms computed inside an engine's own pass over the points, where the
// engine offers one (Engine::fused_loss): the loss and its weight gradient come from one pass, with
// no channel tensors and no autograd graph for the expressions. The sets go through the pass
// together, as one run of points, when their channels differ little enough, else one pass each.
class FusedLoss {
 public:
  virtual ~FusedLoss() = default;
  // The loss of every term of `sets` (term values in the order of the sets and their terms); for
  // training, differentiable for the weights as an autograd node that adds to the other terms'.
  virtual FusedValues squares(const std::vector<FusedSet>& sets, bool for_training) const = 0;
  // The loss as squares() computes it for training, with its weight gradient written to the
  // network parameters' .grad (replacing what they held) instead of left to an autograd node: a
  // loss of fused terms alone then needs no backward() and skips the autograd engine's per-step
  // cost. nullopt where the pass's input needs a gradient of its own (a trainable embedding).
  virtual std::optional<FusedValues> squares_into_grad(const std::vector<FusedSet>& sets) const = 0;
};

}  // namespace pinn::derivatives
