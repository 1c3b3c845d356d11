// relu(z) = max(z, 0): piecewise linear, so every derivative above the first vanishes almost
// everywhere (smooth_orders 1).
#include "model/activation.hpp"

namespace pinn::model {

Activation relu_activation() {
  const auto apply = [](const torch::Tensor& z) { return torch::relu(z); };
  const auto derivatives = [](const torch::Tensor& z, int max_order) {
    std::vector<torch::Tensor> d = {torch::relu(z)};
    if (max_order >= 1) d.push_back((z > 0.0).to(z.scalar_type()));
    while (static_cast<int>(d.size()) <= max_order)
      d.emplace_back();
    return d;
  };
  return {ActivationKind::relu, "relu", apply, 1, derivatives, {}};
}

}  // namespace pinn::model
