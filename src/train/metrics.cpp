// Measuring the errors against the reference, in batches so that large reference sets fit.
#include "train/metrics.hpp"

#include "problem/mean_square.hpp"

namespace pinn::train {

namespace {

constexpr int64_t kBatch = 32768;

}  // namespace

ReferenceMetrics::ReferenceMetrics(const problem::Reference& reference, Objective& objective)
    : reference_(&reference), objective_(&objective) {
  if (!reference.defined()) return;
  const auto& problem = objective.problem();
  for (int o : reference.outputs) {
    const auto& output = problem.symbols.outputs[static_cast<size_t>(o)];
    names_.push_back("l2_rel_" + output);
    names_.push_back("max_err_" + output);
  }
  for (const char* kind : {"mean_abs_residual_", "rms_residual_"}) {
    for (size_t t : reference.residual_terms)
      names_.push_back(kind + problem.losses[t].name);
  }
  points_ = reference.points.to(objective.context().options);
}

std::vector<double> ReferenceMetrics::measure() {
  std::vector<double> values;
  if (!enabled()) return values;
  std::vector<torch::Tensor> outputs, residuals;
  for (int64_t start = 0; start < points_.size(0); start += kBatch) {
    const auto batch = points_.slice(0, start, start + kBatch);
    auto at_batch = objective_->values_at(batch, reference_->residual_terms);
    outputs.push_back(at_batch.outputs.to(torch::kFloat64).cpu());
    if (!at_batch.residuals.empty()) {
      for (auto& term : at_batch.residuals)
        term = term.to(torch::kFloat64).cpu();
      residuals.push_back(torch::stack(at_batch.residuals, 1));
    }
  }
  const auto predicted = torch::cat(outputs, 0);
  for (size_t k = 0; k < reference_->outputs.size(); ++k) {
    const auto exact = reference_->values.select(1, static_cast<int64_t>(k));
    const auto error = predicted.select(1, reference_->outputs[k]) - exact;
    values.push_back((error.norm() / exact.norm()).item<double>());
    values.push_back(error.abs().max().item<double>());
  }
  if (!residuals.empty()) {
    // The mean |r| shows the bulk; the root mean square weighs where the residual is large (a
    // shock that the training points do not resolve), as the loss does.
    const auto all = torch::cat(residuals, 0);
    for (const auto& summary : {all.abs().mean(0), problem::mean_square(all, 0).sqrt()}) {
      for (int64_t t = 0; t < summary.size(0); ++t)
        values.push_back(summary[t].item<double>());
    }
  }
  return values;
}

}  // namespace pinn::train
