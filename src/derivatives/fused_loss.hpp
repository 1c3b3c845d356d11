// The fused loss: Σ_k weight_k · mean(r_k²) of pointwise loss terms with their residuals as
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
};

struct FusedValues {
  torch::Tensor total;               // scalar; differentiable for the weights when asked
  std::vector<torch::Tensor> terms;  // each term's weight · mean(r²), detached
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
