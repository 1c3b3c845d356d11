// Dense layers, plain or with random weight factorization.
#include "model/dense.hpp"

namespace pinn::model {

namespace {

// `gradient` into `parameter`'s .grad: replacing it (the tensor itself becomes the gradient), or
// added to it.
void give_gradient(const torch::Tensor& parameter, const torch::Tensor& gradient, bool replace) {
  torch::Tensor& grad = parameter.mutable_grad();
  if (replace || !grad.defined()) {
    grad = gradient;
  } else {
    grad.add_(gradient);
  }
}

}  // namespace

Dense::Dense(int in, int out, std::optional<FactorizationOptions> factorization)
    : in_(in), out_(out), factorization_(factorization) {
  if (factorization_) {
    log_scale_ = register_parameter("s", torch::zeros({out}));
    direction_ = register_parameter("v", torch::zeros({out, in}));
  } else {
    weight_ = register_parameter("weight", torch::zeros({out, in}));
  }
  bias_ = register_parameter("bias", torch::zeros({out}));
}

torch::Tensor Dense::weight() const {
  if (!factorization_) return weight_;
  return log_scale_.exp().unsqueeze(1) * direction_;
}

torch::Tensor Dense::forward(const torch::Tensor& x) const {
  return torch::linear(x, weight(), bias_);
}

void Dense::initialize(const std::function<void(torch::Tensor&, double)>& init, double gain) {
  torch::NoGradGuard no_grad;
  bias_.zero_();
  if (!factorization_) {
    init(weight_, gain);
    return;
  }
  torch::Tensor plain = torch::empty_like(direction_);
  init(plain, gain);
  log_scale_.normal_(factorization_->mean, factorization_->std);
  direction_.copy_(plain * (-log_scale_).exp().unsqueeze(1));
}

void Dense::take_gradient(const torch::Tensor& weight_grad, const torch::Tensor& bias_grad,
                          bool replace) const {
  give_gradient(bias_, bias_grad, replace);
  if (!factorization_) {
    give_gradient(weight_, weight_grad, replace);
    return;
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor scale = log_scale_.exp().unsqueeze(1);
  give_gradient(direction_, weight_grad * scale, replace);
  give_gradient(log_scale_, (weight_grad * direction_ * scale).sum(1), replace);
}

}  // namespace pinn::model
