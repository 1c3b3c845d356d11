// Derivative engines: given a network and points, compute the channels (u, u_x, u_xy, ...) that
// the loss reads, such that the result can be differentiated again for the weights. A factory
// keyed by the "derivatives" string picks one; all engines give the same numbers.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "expr/channel.hpp"
#include "model/network.hpp"

namespace pinn::derivatives {

using ChannelMap = std::map<expr::Channel, torch::Tensor>;

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::string name() const = 0;
  // The engine that actually differentiates `network`: name(), unless this one hands the
  // network to another (taylor's fallback to forward; auto's choice).
  virtual std::string effective_name(const model::Network&) const { return name(); }
  // Every requested channel (each of shape N) of `network` at `points` (N x d). With
  // `create_graph` the results stay differentiable (training); without, they may be detached.
  // Summed Laplacians are computed as such where the engine can (sums_laplacians), else from
  // their terms.
  ChannelMap compute(model::Network& network, const torch::Tensor& points,
                     const std::set<expr::Channel>& channels, bool create_graph);

 protected:
  // Whether compute_channels takes the summed Laplacians among `channels` as they are.
  virtual bool sums_laplacians(const model::Network&, const std::set<expr::Channel>&) const {
    return false;
  }
  virtual ChannelMap compute_channels(model::Network& network, const torch::Tensor& points,
                                      const std::set<expr::Channel>& channels,
                                      bool create_graph) = 0;
};

// "autograd", "forward", "taylor", and "auto": the fastest engine that supports the network
// (taylor for MLPs, else autograd), chosen when it first sees the network.
std::vector<std::string> engine_names();
std::unique_ptr<Engine> make_engine(const std::string& name);
// The engine "auto" picks for `network`.
std::string auto_engine_for(const model::Network& network);

// Completes `known` with every channel in `wanted` by reverse-mode differentiation with respect to
// `points`: a channel is the derivative of its parent (the channel with its last index removed),
// and one backward pass of a parent yields all its children. Shared by the engines.
void differentiate_in_reverse(ChannelMap& known, const std::set<expr::Channel>& wanted,
                              const torch::Tensor& points, bool create_graph);

}  // namespace pinn::derivatives
