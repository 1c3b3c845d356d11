// identity(z) = z. The engines pass a layer with it through unchanged (Activation::is_identity).
#include "model/activation.hpp"
#include "model/activations/any_order.hpp"

namespace pinn::model {

Activation identity_activation() {
  const auto apply = [](const torch::Tensor& z) { return z; };
  const auto derivatives = [](const torch::Tensor& z, int max_order) {
    std::vector<torch::Tensor> d = {z};
    if (max_order >= 1) d.push_back(torch::ones_like(z));
    while (static_cast<int>(d.size()) <= max_order)
      d.emplace_back();
    return d;
  };
  return {ActivationKind::identity, "identity", apply, kAnyOrder, derivatives, {1.0}};
}

}  // namespace pinn::model
