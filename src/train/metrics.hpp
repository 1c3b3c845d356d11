// Metrics against the reference solution: relative L2 and max error per output, and the mean
// |residual| and RMS residual of chosen loss terms, at the reference points. The trainer records
// them every `reference.every` steps and at the end.
#pragma once

#include <string>
#include <vector>

#include "train/objective.hpp"

namespace pinn::train {

class ReferenceMetrics {
 public:
  ReferenceMetrics(const problem::Reference& reference, Objective& objective);

  bool enabled() const { return reference_->defined(); }
  int every() const { return reference_->every; }
  // "l2_rel_u", "max_err_u", ..., "mean_abs_residual_<term>", ..., "rms_residual_<term>", ...
  const std::vector<std::string>& names() const { return names_; }
  // The metrics at the current weights, in the order of names().
  std::vector<double> measure();
  // The mean of the outputs' relative L2 errors among `values` (measure()'s); NaN when `values`
  // is empty or there is no reference.
  double mean_relative_l2(const std::vector<double>& values) const;

 private:
  const problem::Reference* reference_;
  Objective* objective_;
  std::vector<std::string> names_;
  torch::Tensor points_;  // this rank's share, on the device
  torch::Tensor exact_;   // the reference values there (float64, CPU)
  bool replicated_ = false;
};

}  // namespace pinn::train
