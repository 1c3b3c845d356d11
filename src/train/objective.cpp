// Evaluating the loss terms on their point sets.
#include "train/objective.hpp"

namespace pinn::train {

Objective::Objective(const problem::Problem& problem, model::Network& network,
                     derivatives::Engine& engine, const torch::TensorOptions& options)
    : problem_(&problem), network_(&network), engine_(&engine) {
  for (size_t t = 0; t < problem.losses.size(); ++t) {
    const auto& term = problem.losses[t];
    auto set = std::find_if(sets_.begin(), sets_.end(),
                            [&](const SetWork& work) { return work.name == term.points; });
    if (set == sets_.end()) {
      sets_.push_back({term.points,
                       problem.point_sets.at(term.points).to(options),
                       problem.channels_on(term.points),
                       {}});
      set = std::prev(sets_.end());
    }
    set->terms.push_back(t);
  }
}

std::vector<torch::Tensor> Objective::residuals(bool for_training) {
  std::vector<torch::Tensor> result(problem_->losses.size());
  for (const auto& set : sets_) {
    const auto channels = engine_->compute(*network_, set.points, set.channels, for_training);
    const expr::EvalContext context{set.points, &channels};
    for (size_t t : set.terms)
      result[t] = expr::evaluate(*problem_->losses[t].residual, context);
  }
  return result;
}

LossValues Objective::evaluate(bool for_training) {
  const auto residual = residuals(for_training);
  LossValues values;
  for (size_t t = 0; t < residual.size(); ++t) {
    const auto term = problem_->losses[t].weight * residual[t].square().mean();
    values.total = values.total.defined() ? values.total + term : term;
    values.terms.push_back(term.detach());
  }
  return values;
}

std::vector<TermDiagnostics> Objective::diagnostics() {
  const auto residual = residuals(false);
  std::vector<TermDiagnostics> result;
  for (size_t t = 0; t < residual.size(); ++t) {
    const auto r = residual[t].detach().to(torch::kFloat64);
    TermDiagnostics d;
    d.name = problem_->losses[t].name;
    d.mean_square = r.square().mean().item<double>();
    d.loss = problem_->losses[t].weight * d.mean_square;
    d.max_abs_residual = r.abs().max().item<double>();
    d.mean_abs_residual = r.abs().mean().item<double>();
    result.push_back(d);
  }
  return result;
}

int64_t Objective::total_points() const {
  int64_t count = 0;
  for (const auto& set : sets_)
    count += set.points.size(0);
  return count;
}

}  // namespace pinn::train
