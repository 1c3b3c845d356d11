// A dense (Linear) layer, y = x Wᵀ + b, whose weight is either a parameter W or, with random
// weight factorization (Wang, Wang, Perdikaris 2022, "Random weight factorization improves the
// training of continuous neural representations", arXiv 2210.01274), the product
// W = diag(exp(s)) V of a trained per-output log-scale s and a trained matrix V. The engines read
// weight(): the parameter itself, or the product formed at the call, through which autograd (or a
// pass's hand-written backward, via take_gradient) reaches s and V.
//
// State-dict names: "weight" and "bias"; factorized: "s" (out), "v" (out x in) and "bias".
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>

namespace pinn::model {

// s ~ N(mean, std²) per output at initialisation.
struct FactorizationOptions {
  double mean = 1.0;
  double std = 0.1;
};

class Dense : public torch::nn::Module {
 public:
  Dense(int in, int out, std::optional<FactorizationOptions> factorization);

  // W: the parameter, or diag(exp(s)) V formed now (differentiable for s and V).
  torch::Tensor weight() const;
  const torch::Tensor& bias() const { return bias_; }
  torch::Tensor forward(const torch::Tensor& x) const;
  bool factorized() const { return factorization_.has_value(); }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  // Initialises W with `init` (given `gain`) and the bias to zero. Factorized, s is then drawn
  // and V = diag(exp(-s)) W, so that the layer starts as the plain one would (as the paper and
  // jaxpi's Dense do).
  void initialize(const std::function<void(torch::Tensor&, double)>& init, double gain);

  // Writes the gradient of a loss with respect to W and b into the parameters' .grad (replacing
  // what they held, or added to it): for a factorized layer through W = diag(exp(s)) V,
  // dV = diag(exp(s)) dW and ds_i = Σ_j dW_ij W_ij.
  void take_gradient(const torch::Tensor& weight_grad, const torch::Tensor& bias_grad,
                     bool replace) const;

 private:
  int64_t in_, out_;
  std::optional<FactorizationOptions> factorization_;
  torch::Tensor weight_;     // plain
  torch::Tensor log_scale_;  // factorized: s
  torch::Tensor direction_;  // factorized: V
  torch::Tensor bias_;
};

// How networks hold their layers (registered as submodules).
using Layer = std::shared_ptr<Dense>;

}  // namespace pinn::model
