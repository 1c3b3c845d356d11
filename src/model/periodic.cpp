// The periodic input embedding.
#include "model/periodic.hpp"

#include <cmath>

namespace pinn::model {

PeriodicEmbedding::PeriodicEmbedding(const std::vector<double>& periods) : periods_(periods) {
  for (size_t i = 0; i < periods.size(); ++i) {
    if (periods[i] > 0) {
      periodic_.push_back(static_cast<int64_t>(i));
      frequencies_.push_back(2.0 * M_PI / periods[i]);
    } else {
      kept_.push_back(static_cast<int64_t>(i));
    }
  }
  // model.pt keeps the periods (0: not periodic), from which scripts/predict.py rebuilds it.
  register_buffer("periods", torch::tensor(periods_, torch::kFloat64));
}

torch::Tensor PeriodicEmbedding::frequencies(const torch::TensorOptions& options) const {
  return torch::tensor(frequencies_, torch::kFloat64).unsqueeze(0).to(options);
}

torch::Tensor PeriodicEmbedding::forward(const torch::Tensor& points) const {
  const auto index = [&](const std::vector<int64_t>& columns) {
    return torch::tensor(columns, torch::kLong).to(points.device());
  };
  const torch::Tensor angles =
      points.index_select(1, index(periodic_)) * frequencies(points.options());
  return torch::cat({points.index_select(1, index(kept_)), torch::cos(angles), torch::sin(angles)},
                    1);
}

}  // namespace pinn::model
