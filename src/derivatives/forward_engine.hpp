// The forward-mode engine: first derivatives as jvp's with dual tensors (one pass per input
// direction, the value coming with it); higher orders by reverse-mode differentiation of those
// tangents, since LibTorch supports a single forward-AD level. The tangents remain ordinary
// differentiable tensors, so the loss built from them is differentiated for the weights.
#pragma once

#include "derivatives/engine.hpp"

namespace pinn::derivatives {

class ForwardEngine : public Engine {
 public:
  explicit ForwardEngine(model::Network& network) : Engine(network) {}
  std::string name() const override { return "forward"; }

 protected:
  ChannelMap compute_channels(const torch::Tensor& points, const std::set<expr::Channel>& channels,
                              bool create_graph) override;
};

}  // namespace pinn::derivatives
