// Input features (DeepXDE's apply_feature_transform): the network's "features", expressions of
// the inputs and constants such as ["r", "sin(theta)", "cos(theta)"], replace the raw inputs as
// what the first layer (or the periodic and Fourier embeddings) sees. The features hold no
// weights; they are ordinary differentiable tensor ops, so autograd and forward mode see through
// them, and the Taylor engine takes their derivatives with respect to the inputs as the embedded
// channels of the first layer (derivatives/taylor/channel_algebra).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "config/reader.hpp"
#include "expr/expression.hpp"

namespace pinn::model {

class FeatureMap : public torch::nn::Module {
 public:
  explicit FeatureMap(std::vector<expr::NodePtr> features);
  // N x features at `points` (N x inputs).
  torch::Tensor forward(const torch::Tensor& points) const;
  int64_t output_width() const { return static_cast<int64_t>(features_.size()); }

 private:
  std::vector<expr::NodePtr> features_;
};

// The "features" list of a network object: each an expression of `symbols`' inputs and
// constants; an output, a parameter or a derivative is refused with its JSON path.
std::vector<expr::NodePtr> read_features(config::Reader& reader, const expr::Symbols& symbols);

}  // namespace pinn::model
