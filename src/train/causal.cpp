// Chunks and causal weights.
#include "train/causal.hpp"

#include <cmath>

namespace pinn::train {

std::vector<int64_t> chunk_ends(int64_t count, int chunks) {
  std::vector<int64_t> ends;
  for (int k = 1; k <= chunks; ++k)
    ends.push_back(k * count / chunks);
  return ends;
}

std::vector<double> causal_weights(const std::vector<double>& chunk_means, double epsilon) {
  std::vector<double> weights;
  double before = 0;  // Σ_{j<k} L_j
  for (double mean : chunk_means) {
    weights.push_back(std::exp(-epsilon * before));
    before += mean;
  }
  return weights;
}

torch::Tensor chunk_mean_squares(const torch::Tensor& residual, const std::vector<int64_t>& ends) {
  const auto chunks = static_cast<int64_t>(ends.size());
  std::vector<int64_t> counts;
  int64_t begin = 0;
  for (int64_t end : ends) {
    counts.push_back(end - begin);
    begin = end;
  }
  const auto options = torch::TensorOptions().dtype(torch::kLong).device(residual.device());
  const torch::Tensor count = torch::tensor(counts, options);
  const torch::Tensor chunk = torch::repeat_interleave(torch::arange(chunks, options), count);
  const torch::Tensor sums = torch::zeros({chunks}, residual.options())
                                 .index_add(0, chunk, residual.reshape({-1}).square());
  return sums / count.clamp_min(1).to(residual.options());
}

}  // namespace pinn::train
