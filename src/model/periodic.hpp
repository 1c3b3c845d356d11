// Exact periodicity by embedding (as jaxpi's PeriodEmbs): each periodic input x with period P
// becomes the pair (cos(2πx/P), sin(2πx/P)) before the first layer (and before any Fourier
// features), so every function of the embedding is P-periodic in x by construction and no loss
// term has to ask for it. The other inputs pass through unchanged, first, in their order; the
// pairs follow in the order of the inputs.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace pinn::model {

class PeriodicEmbedding : public torch::nn::Module {
 public:
  // `periods[i]`: input i's period, or 0 when input i is not periodic (one per input).
  explicit PeriodicEmbedding(const std::vector<double>& periods);

  torch::Tensor forward(const torch::Tensor& points) const;
  int64_t output_width() const { return static_cast<int64_t>(kept_.size() + 2 * periodic_.size()); }
  // The inputs passed through, the periodic ones, and 2π/P of each periodic one.
  const std::vector<int64_t>& kept() const { return kept_; }
  const std::vector<int64_t>& periodic() const { return periodic_; }
  // 2π/P of each periodic input, 1 x periodic, with `options` (the points').
  torch::Tensor frequencies(const torch::TensorOptions& options) const;
  const std::vector<double>& periods() const { return periods_; }

 private:
  std::vector<double> periods_;
  std::vector<int64_t> kept_, periodic_;
  std::vector<double> frequencies_;
};

}  // namespace pinn::model
