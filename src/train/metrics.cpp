// Measuring the errors against the reference, in batches so that large reference sets fit.
#include "train/metrics.hpp"

#include <cmath>
#include <limits>

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
  // Across ranks each measures its share of the points; the sums and maxima are reduced.
  const auto share = objective.group().share(reference.points.size(0));
  replicated_ = share.replicated;
  points_ = reference.points.narrow(0, share.start, share.count).to(objective.context().options);
  exact_ = reference.values.narrow(0, share.start, share.count).to(torch::kFloat64);
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
  // Per output: sum of squared errors, of squared exact values, and the largest error; per
  // residual term: sum of |r| and of r^2. Sums and maxima, so that ranks' shares add up.
  const auto outputs_measured = static_cast<int64_t>(reference_->outputs.size());
  std::vector<torch::Tensor> sums, maxima;
  for (int64_t k = 0; k < outputs_measured; ++k) {
    const auto exact = exact_.select(1, k);
    const auto error = predicted.select(1, reference_->outputs[static_cast<size_t>(k)]) - exact;
    sums.push_back(error.square().sum());
    sums.push_back(exact.square().sum());
    maxima.push_back(error.numel() > 0 ? error.abs().max() : torch::zeros({}, torch::kFloat64));
  }
  const int64_t terms = static_cast<int64_t>(reference_->residual_terms.size());
  if (terms > 0) {
    const auto all =
        residuals.empty() ? torch::zeros({0, terms}, torch::kFloat64) : torch::cat(residuals, 0);
    for (int64_t t = 0; t < terms; ++t) {
      sums.push_back(all.select(1, t).abs().sum());
      sums.push_back(all.select(1, t).square().sum());
    }
  }
  torch::Tensor summed = torch::stack(sums);
  torch::Tensor largest = torch::stack(maxima);
  auto& group = objective_->group();
  if (group.distributed()) {
    if (replicated_) summed /= group.size();
    group.sum(summed);
    group.max(largest);
  }
  const auto count = static_cast<double>(reference_->points.size(0));
  for (int64_t k = 0; k < outputs_measured; ++k) {
    values.push_back(std::sqrt(summed[2 * k].item<double>() / summed[2 * k + 1].item<double>()));
    values.push_back(largest[k].item<double>());
  }
  // The mean |r| shows the bulk; the root mean square weighs where the residual is large (a
  // shock that the training points do not resolve), as the loss does.
  const int64_t base = 2 * outputs_measured;
  for (int64_t t = 0; t < terms; ++t)
    values.push_back(summed[base + 2 * t].item<double>() / count);
  for (int64_t t = 0; t < terms; ++t)
    values.push_back(std::sqrt(summed[base + 2 * t + 1].item<double>() / count));
  return values;
}

double ReferenceMetrics::mean_relative_l2(const std::vector<double>& values) const {
  // measure() starts with (l2_rel, max_err) per output with reference values.
  const size_t outputs = enabled() ? reference_->outputs.size() : 0;
  if (outputs == 0 || values.size() < 2 * outputs) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  for (size_t k = 0; k < outputs; ++k)
    sum += values[2 * k];
  return sum / static_cast<double>(outputs);
}

}  // namespace pinn::train
