// The Taylor-mode engine: for MLPs (with or without a Fourier embedding), the value and every
// input-derivative channel the loss needs travel through the network together in one forward
// pass. Each Linear layer is one matmul on the stacked channels (the bias only on the value),
// each activation applies its Taylor rules (multivariate Faà di Bruno: ∂_α σ(z) = Σ over set
// partitions π of α of σ^(|π|)(z) Π_{B∈π} z_B) with σ's derivatives in closed form, in one fused
// pass per layer (taylor_kernels). No nested autograd graph is built: for training, the network
// runs as one custom autograd Function whose backward pass is written by hand (the adjoint of the
// stacked matmuls and of Faà di Bruno); it supports first-order backward only. ResNet and the
// modified MLP propagate their channels as ordinary tensor ops (autograd's backward), output
// transforms through transform_jets; other networks go to the forward-mode engine, with one
// warning.
#pragma once

#include "derivatives/engine.hpp"
#include "derivatives/forward_engine.hpp"
#include "derivatives/taylor_tiles.hpp"

#include <optional>
#include <utility>

namespace pinn::derivatives {

// Why TaylorEngine cannot propagate `network` in Taylor mode, or empty when it can.
std::string taylor_unsupported_reason(const model::Network& network);

// The tiled pass set up to propagate `channels` of `network` at `points`, for the fused loss
// (fused_loss.hpp): nullopt unless `network` is an MLP, without an output transform, that the
// tiled pass runs on this device, dtype and CPU.
struct TiledSetup {
  tiles::Network network;
  torch::Tensor input;                    // the points, or their embedded channels
  std::vector<torch::Tensor> parameters;  // weight and bias of every layer, in order
  // Where each channel lands among the pass's outputs: its stacked index, and the output.
  std::map<expr::Channel, std::pair<int64_t, int64_t>> slots;
};
std::optional<TiledSetup> tiled_setup(const model::Network& network, const torch::Tensor& points,
                                      const std::set<expr::Channel>& channels);

class TaylorEngine : public Engine {
 public:
  std::string name() const override { return "taylor"; }
  std::string effective_name(const model::Network& network) const override {
    return taylor_unsupported_reason(network).empty() ? name() : fallback_.name();
  }

 protected:
  // Summed Laplacians of an output (not of its derivatives) travel as one channel.
  bool sums_laplacians(const model::Network& network,
                       const std::set<expr::Channel>& channels) const override;
  ChannelMap compute_channels(model::Network& network, const torch::Tensor& points,
                              const std::set<expr::Channel>& channels, bool create_graph) override;

 private:
  ForwardEngine fallback_;
  bool warned_ = false;
};

}  // namespace pinn::derivatives
