// Derivative engines: given points, compute the channels (u, u_x, u_xy, ...) of one network that
// the loss reads, such that the result can be differentiated again for the weights. An engine is
// made for one network, by the name in the config's "derivatives" (a registry), and decides there
// and then how it will differentiate that network on its device and dtype: everything it reports
// (name(), cpu_kernels(), fused_loss()) is that one decision. All engines give the same numbers.
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

class FusedLoss;

class Engine {
 public:
  virtual ~Engine() = default;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // The engine that differentiates the network: "autograd", "forward" or "taylor" (what "auto"
  // chose; "forward" where taylor hands a network it cannot propagate to forward mode).
  virtual std::string name() const = 0;
  // The CPU kernels the engine runs: the Taylor engine's tiled-pass variant that did most work
  // ("avx512-ymm-tail/256k", see derivatives/kernels/tiled_pass.hpp), or "none".
  virtual std::string cpu_kernels() const { return "none"; }
  // The loss of pointwise terms computed inside the engine's own pass (derivatives/fused_loss.hpp),
  // or null where the engine has none for this network: the loss is then built from channels.
  virtual const FusedLoss* fused_loss() const { return nullptr; }

  // Every requested channel (each of shape N) at `points` (N x d, on the network's device and
  // dtype). With `create_graph` the results stay differentiable (training); without, they may be
  // detached. Summed Laplacians are computed as such where the engine can (sums_laplacians), else
  // from their terms.
  ChannelMap compute(const torch::Tensor& points, const std::set<expr::Channel>& channels,
                     bool create_graph);

  model::Network& network() const { return *network_; }

 protected:
  explicit Engine(model::Network& network) : network_(&network) {}
  // Whether compute_channels takes the summed Laplacians among `channels` as they are.
  virtual bool sums_laplacians() const { return false; }
  virtual ChannelMap compute_channels(const torch::Tensor& points,
                                      const std::set<expr::Channel>& channels,
                                      bool create_graph) = 0;

 private:
  model::Network* network_;
};

// "autograd", "forward", "taylor", and "auto": the fastest engine for the network (taylor for
// MLPs it propagates, else autograd).
std::vector<std::string> engine_names();
// The engine called `name` for `network`; an InputError at `where` for an unknown name.
std::unique_ptr<Engine> make_engine(const std::string& name, model::Network& network,
                                    const std::string& where = "");

// The network's values (N x outputs) as channels (o, {}), for every output.
ChannelMap value_channels(const torch::Tensor& values);

// Whether any of `channels` is a derivative.
bool needs_derivatives(const std::set<expr::Channel>& channels);

// Completes `known` with every channel in `wanted` by reverse-mode differentiation with respect to
// `points`: a channel is the derivative of its parent (the channel with its last index removed),
// and one backward pass of a parent yields all its children. Shared by the engines.
void differentiate_in_reverse(ChannelMap& known, const std::set<expr::Channel>& wanted,
                              const torch::Tensor& points, bool create_graph);

}  // namespace pinn::derivatives
