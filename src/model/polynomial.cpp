// Polynomial arithmetic for the activations' derivative rules.
#include "model/polynomial.hpp"

namespace pinn::model {

Polynomial derivative(const Polynomial& p) {
  Polynomial d;
  for (size_t k = 1; k < p.size(); ++k)
    d.push_back(static_cast<double>(k) * p[k]);
  return d;
}

Polynomial multiply(const Polynomial& a, const Polynomial& b) {
  if (a.empty() || b.empty()) return {};
  Polynomial c(a.size() + b.size() - 1, 0.0);
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t j = 0; j < b.size(); ++j)
      c[i + j] += a[i] * b[j];
  }
  return c;
}

torch::Tensor evaluate(const Polynomial& p, const torch::Tensor& t) {
  size_t degree = p.size();
  while (degree > 0 && p[degree - 1] == 0.0)
    --degree;
  if (degree == 0) return torch::Tensor();
  if (degree == 1) return torch::full_like(t, p[0]);
  torch::Tensor result = t * p[degree - 1];
  if (p[degree - 2] != 0.0) result.add_(p[degree - 2]);
  for (size_t k = degree - 2; k-- > 0;) {
    result = result * t;
    if (p[k] != 0.0) result.add_(p[k]);
  }
  return result;
}

torch::Tensor scaled(const torch::Tensor& t, double factor) {
  return factor == 1.0 ? t : t * factor;
}

std::vector<Polynomial> derivative_polynomials(const Polynomial& q, int max_order) {
  std::vector<Polynomial> polys = {{0.0, 1.0}};
  for (int k = 1; k <= max_order; ++k)
    polys.push_back(multiply(derivative(polys.back()), q));
  return polys;
}

}  // namespace pinn::model
