// The reverse-over-reverse engine: one forward pass, then nested backward passes with
// create_graph, the way Python PINN libraries do it.
#pragma once

#include "derivatives/engine.hpp"

namespace pinn::derivatives {

class AutogradEngine : public Engine {
 public:
  explicit AutogradEngine(model::Network& network) : Engine(network) {}
  std::string name() const override { return "autograd"; }

 protected:
  ChannelMap compute_channels(const torch::Tensor& points, const std::set<expr::Channel>& channels,
                              bool create_graph) override;
};

}  // namespace pinn::derivatives
