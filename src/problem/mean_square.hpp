// A loss term's value is its weight times the mean of its squared residual, mean(r²), over its
// set's points. Whatever computes that mean (the objective's tensors, the fused loss's sums over
// tiles, the residual metrics) takes it from here, so that they cannot disagree.
#pragma once

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>

namespace pinn::problem {

// mean(r²) over every entry of `residual`.
inline torch::Tensor mean_square(const torch::Tensor& residual) {
  return residual.square().mean();
}

// mean(r²) along `dim`: one value per remaining index (per term, for residuals side by side).
inline torch::Tensor mean_square(const torch::Tensor& residual, int64_t dim) {
  return residual.square().mean(dim);
}

// The factor of Σ r² that gives weight · mean(r²) over `count` points, for code that adds up the
// squares itself (the fused loss, tile by tile). An empty set counts as one point: its sum is 0.
inline double mean_square_scale(double weight, int64_t count) {
  return weight / static_cast<double>(std::max<int64_t>(count, 1));
}

}  // namespace pinn::problem
