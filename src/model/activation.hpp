// Activation functions: one record per activation (model/activations/), made once and handed to
// the networks and the derivative engines. A record holds what every consumer needs: the tensor
// function (differentiable LibTorch ops, so that autograd and forward mode take derivatives of any
// order through it), the Taylor rules σ^(k)(z) that the Taylor engine propagates, and, where σ'
// is a polynomial of σ, that polynomial, from which the CPU kernels evaluate every σ^(k) from σ.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/activation_kind.hpp"
#include "model/polynomial.hpp"

namespace pinn::model {

using ActivationFunction = torch::Tensor (*)(const torch::Tensor&);
// σ^(k)(z) for k = 0..max_order, each written with differentiable ops; an undefined tensor is an
// identically zero derivative.
using DerivativeRules = std::vector<torch::Tensor> (*)(const torch::Tensor& z, int max_order);

struct Activation {
  ActivationKind kind;
  std::string name;
  ActivationFunction apply;
  // Highest derivative order that is not identically zero almost everywhere; relu's second
  // derivative vanishes, so asking for u_xx through relu trains nothing.
  int smooth_orders;
  DerivativeRules derivatives;
  // q with σ' = q(σ) (tanh: 1 - σ², sigmoid: σ - σ²), or empty when σ' is no polynomial of σ.
  Polynomial value_derivative;

  bool is_identity() const { return kind == ActivationKind::identity; }
  bool has_value_polynomials() const { return !value_derivative.empty(); }
  // P_0..P_max_order with σ^(k) = P_k(σ); only where has_value_polynomials().
  std::vector<Polynomial> value_polynomials(int max_order) const;
};

// The activation called `name`; an InputError at `where` when there is none.
const Activation& activation(const std::string& name, const std::string& where = "");
const Activation& activation(ActivationKind kind);
std::vector<std::string> activation_names();

// sin^(k) (or, with `cosine`, cos^(k)) at z for k = 0..max_order: the cycle of period four that
// the sin activation and the Fourier embedding share.
std::vector<torch::Tensor> sine_derivatives(const torch::Tensor& z, int max_order, bool cosine);

#define PINN_ACTIVATION_RECORD(name) Activation name##_activation();
PINN_ACTIVATIONS(PINN_ACTIVATION_RECORD)
#undef PINN_ACTIVATION_RECORD

}  // namespace pinn::model
