// The Taylor engine's path, decided once, and its dispatch.
#include "derivatives/taylor/taylor_engine.hpp"

#include <spdlog/spdlog.h>

#include "derivatives/forward_engine.hpp"
#include "derivatives/kernels/tiled_pass.hpp"
#include "derivatives/taylor/channel_algebra.hpp"
#include "derivatives/taylor/tiled_fused_loss.hpp"
#include "derivatives/transform_jets.hpp"
#include "model/transform.hpp"

namespace pinn::derivatives::taylor {

namespace {

TaylorEngine::Path path_of(const model::Structure& structure) {
  if (structure.operations.empty()) return TaylorEngine::Path::forward;
  return structure.is_chain() ? TaylorEngine::Path::mlp : TaylorEngine::Path::tensor_ops;
}

// The options of the tensors the network computes with: its parameters'.
torch::TensorOptions options_of(const model::Network& network) {
  const auto parameters = network.parameters();
  return parameters.empty() ? torch::TensorOptions() : parameters.front().options();
}

}  // namespace

TaylorEngine::TaylorEngine(model::Network& network, bool warn)
    : Engine(network), structure_(network.structure()), path_(path_of(structure_)) {
  if (path_ == Path::forward) {
    if (warn) {
      spdlog::warn(
          "taylor derivatives: the network does not describe its operations (only mlp, resnet and "
          "modified_mlp networks do); using the forward engine instead");
    }
    delegate_ = std::make_unique<ForwardEngine>(network);
    return;
  }
  if (structure_.output_transform != nullptr) {
    raw_engine_ = std::make_unique<TaylorEngine>(*structure_.raw, warn);
    path_ = raw_engine_->path();
    return;
  }
  if (!structure_.branches.empty()) {
    bool all_mlp = true;
    for (model::Network* branch : structure_.branches) {
      branch_engines_.push_back(std::make_unique<TaylorEngine>(*branch, warn));
      all_mlp &= branch_engines_.back()->path() == Path::mlp;
    }
    path_ = all_mlp ? Path::mlp : Path::tensor_ops;
    return;
  }
  if (path_ == Path::mlp) {
    mlp_ = mlp_layers(structure_);
    kernels_ = mlp_kernels_for(*mlp_, options_of(network));
    if (kernels_ == MlpKernels::tiled) fused_loss_ = make_tiled_fused_loss(*mlp_);
  }
}

TaylorEngine::~TaylorEngine() = default;

std::string TaylorEngine::name() const {
  return path_ == Path::forward ? delegate_->name() : "taylor";
}

std::string TaylorEngine::cpu_kernels() const {
  if (raw_engine_) return raw_engine_->cpu_kernels();
  if (!branch_engines_.empty()) return branch_engines_.front()->cpu_kernels();
  if (path_ != Path::mlp || kernels_ == MlpKernels::tensor_ops) return "none";
  // The per-layer loops are one build (AVX2 and FMA); the tiled pass's variant is measured.
  return kernels_ == MlpKernels::tiled ? tiles::kernels_in_use() : "avx2";
}

ChannelMap TaylorEngine::compute_channels(const torch::Tensor& points,
                                          const std::set<expr::Channel>& channels,
                                          bool create_graph) {
  if (path_ == Path::forward) return delegate_->compute(points, channels, create_graph);
  if (raw_engine_) {
    const model::TransformedNetwork& transformed = *structure_.output_transform;
    const ChannelMap raw =
        raw_engine_->compute(points, raw_channels_for(transformed, channels), create_graph);
    return transform_channels(transformed, points, raw, channels, create_graph);
  }
  if (!branch_engines_.empty()) return compute_branches(points, channels, create_graph);
  if (!needs_derivatives(channels)) {
    // Values alone: the tiled pass still beats LibTorch's layer-by-layer ops and their graph.
    if (kernels_ == MlpKernels::tiled) return propagate(points, channels, create_graph);
    return value_channels(network().forward(points));
  }
  return propagate(points, channels, create_graph);
}

ChannelMap TaylorEngine::compute_branches(const torch::Tensor& points,
                                          const std::set<expr::Channel>& channels,
                                          bool create_graph) {
  // Every output's value is in the result, as from any engine; its derivatives where asked.
  std::vector<std::set<expr::Channel>> wanted(branch_engines_.size(), {expr::Channel{0, {}}});
  for (expr::Channel channel : channels) {
    const auto output = static_cast<size_t>(channel.output);
    channel.output = 0;
    wanted.at(output).insert(channel);
  }
  ChannelMap result;
  for (size_t o = 0; o < branch_engines_.size(); ++o) {
    for (auto& [channel, values] : branch_engines_[o]->compute(points, wanted[o], create_graph)) {
      expr::Channel own = channel;
      own.output = static_cast<int>(o);
      result.emplace(own, values);
    }
  }
  return result;
}

ChannelMap TaylorEngine::propagate(const torch::Tensor& points,
                                   const std::set<expr::Channel>& channels, bool create_graph) {
  if (path_ == Path::mlp) return propagate_mlp(*mlp_, kernels_, points, channels, create_graph);
  return propagate_structure(structure_, points, channels, create_graph);
}

}  // namespace pinn::derivatives::taylor
