// Polynomials with double coefficients, lowest degree first: the derivatives of tanh, sigmoid and
// the Gaussian are polynomials of a simpler function, which the activations' Taylor rules and the
// kernels evaluate.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace pinn::model {

using Polynomial = std::vector<double>;

Polynomial derivative(const Polynomial& p);
Polynomial multiply(const Polynomial& a, const Polynomial& b);

// p(t) by Horner's rule; an undefined tensor (zero) for the zero polynomial.
torch::Tensor evaluate(const Polynomial& p, const torch::Tensor& t);

// t * factor, or t itself for a factor of one (no copy, no rounding).
torch::Tensor scaled(const torch::Tensor& t, double factor);

// P_0..P_max_order with f^(k) = P_k(f) when f' = q(f): P_0(f) = f, P_{k+1} = P_k' q.
std::vector<Polynomial> derivative_polynomials(const Polynomial& q, int max_order);

}  // namespace pinn::model
