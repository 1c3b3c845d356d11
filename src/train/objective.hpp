// The objective: the weighted sum of the loss terms, weight * mean(residual^2). Channels are
// computed once per point set and step, shared by every term on that set.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "derivatives/engine.hpp"
#include "model/network.hpp"
#include "problem/problem.hpp"

namespace pinn::train {

struct LossValues {
  torch::Tensor total;               // scalar, differentiable when computed for training
  std::vector<torch::Tensor> terms;  // weighted term values, detached, in problem order
};

struct TermDiagnostics {
  std::string name;
  double loss = 0;         // weight * mean(r^2)
  double mean_square = 0;  // mean(r^2)
  double max_abs_residual = 0;
  double mean_abs_residual = 0;
};

class Objective {
 public:
  // Point sets are moved to `options` (device, dtype) once, here.
  Objective(const problem::Problem& problem, model::Network& network, derivatives::Engine& engine,
            const torch::TensorOptions& options);

  // The loss; differentiable for the weights when `for_training`.
  LossValues evaluate(bool for_training);
  // Residual statistics per term at the current weights.
  std::vector<TermDiagnostics> diagnostics();
  int64_t total_points() const;

  const problem::Problem& problem() const { return *problem_; }

 private:
  struct SetWork {
    std::string name;
    torch::Tensor points;
    std::set<expr::Channel> channels;
    std::vector<size_t> terms;  // indices into problem.losses
  };
  // Residual tensors of every term, in problem order.
  std::vector<torch::Tensor> residuals(bool for_training);

  const problem::Problem* problem_;
  model::Network* network_;
  derivatives::Engine* engine_;
  std::vector<SetWork> sets_;
};

}  // namespace pinn::train
