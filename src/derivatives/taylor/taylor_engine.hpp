// The Taylor-mode engine: the value and every input-derivative channel the loss needs travel
// through the network together in one forward pass, each operation applying its Taylor rules
// (an activation's: multivariate Faà di Bruno with σ's derivatives in closed form, from its
// model::Activation record). No nested autograd graph is built. When it is made, the engine reads
// the network's structure and picks one path for its device and dtype:
//   mlp         a chain of layers (an MLP): the stacked passes with their hand-written backward,
//               or on a CPU the tiled pass, which also offers the fused loss (taylor/stacked_mlp);
//   tensor_ops  any other structure (ResNet, the modified MLP): the channel algebra as tensor ops
//               with autograd's backward (taylor/channel_algebra);
//   forward     an opaque network (no structure): handed to the forward-mode engine, with one
//               warning.
// An output transform's derivatives come from the raw network's channels (transform_jets); a
// parallel network's from one engine per sub-network, each on its own path (the mlp path when
// every sub-network is an MLP).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "derivatives/engine.hpp"
#include "derivatives/fused_loss.hpp"
#include "derivatives/taylor/stacked_mlp.hpp"

namespace pinn::derivatives::taylor {

class TaylorEngine : public Engine {
 public:
  enum class Path { mlp, tensor_ops, forward };

  // Made quietly (no warning) when `warn` is false: "auto" asks first.
  explicit TaylorEngine(model::Network& network, bool warn = true);
  ~TaylorEngine() override;

  Path path() const { return path_; }
  std::string name() const override;
  std::string cpu_kernels() const override;
  const FusedLoss* fused_loss() const override { return fused_loss_.get(); }

 protected:
  // Summed Laplacians of an output (not of its derivatives) travel as one channel; through an
  // output transform they are summed from their terms, which transform_jets differentiates.
  bool sums_laplacians() const override { return structure_.output_transform == nullptr; }
  ChannelMap compute_channels(const torch::Tensor& points, const std::set<expr::Channel>& channels,
                              bool create_graph) override;

 private:
  ChannelMap propagate(const torch::Tensor& points, const std::set<expr::Channel>& channels,
                       bool create_graph);
  // A parallel network's channels, each output's from its sub-network's engine.
  ChannelMap compute_branches(const torch::Tensor& points, const std::set<expr::Channel>& channels,
                              bool create_graph);

  model::Structure structure_;
  Path path_;
  std::optional<MlpLayers> mlp_;  // on the mlp path
  MlpKernels kernels_ = MlpKernels::tensor_ops;
  std::unique_ptr<FusedLoss> fused_loss_;     // on the tiled kernels, without an output transform
  std::unique_ptr<Engine> delegate_;          // forward: the forward-mode engine
  std::unique_ptr<TaylorEngine> raw_engine_;  // through an output transform: the raw network's
  std::vector<std::unique_ptr<TaylorEngine>> branch_engines_;  // parallel: one per output
};

}  // namespace pinn::derivatives::taylor
