// sin, the SIREN-style activation; its derivatives cycle with period four.
#include "model/activation.hpp"
#include "model/activations/any_order.hpp"

namespace pinn::model {

Activation sin_activation() {
  const auto apply = [](const torch::Tensor& z) { return torch::sin(z); };
  const auto derivatives = [](const torch::Tensor& z, int max_order) {
    return sine_derivatives(z, max_order, /*cosine=*/false);
  };
  return {ActivationKind::sin, "sin", apply, kAnyOrder, derivatives, {}};
}

}  // namespace pinn::model
