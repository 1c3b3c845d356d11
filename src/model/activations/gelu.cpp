// The exact (erf) GELU, gelu(z) = z Φ(z), written out so that every engine differentiates erf to
// any order.
#include <cmath>

#include "model/activation.hpp"
#include "model/activations/any_order.hpp"

namespace pinn::model {

namespace {

// gelu^(k) = z Φ^(k) + k Φ^(k-1); Φ^(j) = φ^(j-1) = (-1)^(j-1) He_(j-1) φ (Hermite polynomials).
std::vector<torch::Tensor> gelu_derivatives(const torch::Tensor& z, int max_order) {
  const torch::Tensor phi_big = 1.0 + torch::erf(z * M_SQRT1_2);  // 2Φ, as the activation writes it
  const torch::Tensor phi = torch::exp(-0.5 * z * z) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
  std::vector<torch::Tensor> cdf = {0.5 * phi_big};  // Φ^(j)
  Polynomial he_previous, he = {1.0};                // He_(j-2), He_(j-1)
  for (int j = 1; j <= max_order; ++j) {
    const torch::Tensor density = j == 1 ? phi : evaluate(he, z) * phi;
    cdf.push_back(scaled(density, (j - 1) % 2 == 0 ? 1.0 : -1.0));
    Polynomial next = multiply(he, {0.0, 1.0});  // He_j = z He_(j-1) - (j-1) He_(j-2)
    for (size_t i = 0; i < he_previous.size(); ++i)
      next[i] -= static_cast<double>(j - 1) * he_previous[i];
    he_previous = he;
    he = next;
  }
  std::vector<torch::Tensor> d = {0.5 * z * phi_big};
  for (int k = 1; k <= max_order; ++k) {
    const auto ku = static_cast<size_t>(k);
    d.push_back(z * cdf[ku] + scaled(cdf[ku - 1], k));
  }
  return d;
}

}  // namespace

Activation gelu_activation() {
  const auto apply = [](const torch::Tensor& z) {
    return 0.5 * z * (1.0 + torch::erf(z * M_SQRT1_2));
  };
  return {ActivationKind::gelu, "gelu", apply, kAnyOrder, gelu_derivatives, {}};
}

}  // namespace pinn::model
