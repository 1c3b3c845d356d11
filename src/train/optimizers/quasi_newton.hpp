// The bfgs, ssbfgs and ssbroyden stages (their keys and their records in train/stage.cpp's
// registry) and the optimizer they run: quasi-Newton minimisation with a dense inverse Hessian
// (inverse_hessian.hpp) on one flat float64 vector: BFGS, self-scaled BFGS or self-scaled Broyden,
// with the Moré–Thuente strong Wolfe line search (line_search.hpp) whose first trial step follows
// SciPy's BFGS. As the authors of the self-scaled updates run it (Kiyani et al., arXiv 2501.16371),
// every `restart_every` iterations H is symmetrised and reset to the identity when it is no longer
// positive definite; a failed line search restarts from the identity instead of ending.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "train/optimizers/inverse_hessian.hpp"
#include "train/optimizers/line_search.hpp"

namespace pinn::train {

struct StageType;  // train/stage.hpp

enum class QuasiNewtonMethod { bfgs, ssbfgs, ssbroyden };

// The keys of the dense quasi-Newton stages (bfgs, ssbfgs, ssbroyden), as the config names them.
struct QuasiNewtonSettings {
  QuasiNewtonMethod method = QuasiNewtonMethod::ssbroyden;
  std::string line_search = "strong_wolfe";  // or "none": unit steps
  int restart_every = 500;
  double tolerance_grad = 0;
  int max_parameters = 20000;  // H takes 8 n^2 bytes: 3.2 GB at 20000
};

// The stage type of `method`: its keys and its stage, which runs QuasiNewton (below) with H on
// the parameters' device.
StageType quasi_newton_stage_type(QuasiNewtonMethod method);

struct QuasiNewtonOptions {
  QuasiNewtonMethod method = QuasiNewtonMethod::ssbroyden;
  bool line_search = true;       // strong Wolfe; false: unit steps (the quasi-Newton step)
  int restart_every = 500;       // iterations between symmetrisations and positivity checks
  double tolerance_grad = 0;     // converged when the largest |gradient| entry is at most this
  int max_failed_searches = 20;  // consecutive failed line searches before the run stalls
  LineSearchOptions search;
};

class QuasiNewton {
 public:
  // The loss at x; writes its gradient into `gradient` (sized like x).
  using Objective =
      std::function<double(const std::vector<double>& x, std::vector<double>& gradient)>;

  enum class Status { running, converged, stalled };

  QuasiNewton(QuasiNewtonOptions options, std::vector<double> start,
              torch::Device device = torch::kCPU);

  // Up to `iterations` iterations; returns how many ran. Fewer: status() is converged (the
  // gradient tolerance holds) or stalled (no acceptable step even from the identity).
  int iterate(int iterations, const Objective& objective);

  // The objective changed (new points): its value and gradient at x are evaluated anew; H is
  // kept, as the authors keep it when they resample.
  void forget_objective();
  // After a rollback: H led to a divergence; it starts again from the identity.
  void forget_curvature();

  const std::vector<double>& x() const { return x_; }
  double loss() const { return loss_; }
  Status status() const { return status_; }
  int64_t iterations() const { return iterations_; }
  int64_t evaluations() const { return evaluations_; }
  int64_t resets() const { return resets_; }    // H put back to the identity
  int64_t skipped() const { return skipped_; }  // updates skipped for y.s <= 0
  // Seconds spent on H (products, updates, symmetrisations): the optimizer's own cost.
  double hessian_seconds() const { return hessian_seconds_; }
  const InverseHessian& inverse_hessian() const { return h_; }

  // The last accepted step: the loss and slope where it started, and the point it reached.
  struct Step {
    double start_value = 0, start_slope = 0;
    LinePoint point;
  };
  const Step& last_step() const { return last_step_; }

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  void evaluate(const Objective& objective);
  void restart_direction();  // H = I, p = -g
  // The update's coefficients for this step (the method's rule).
  UpdateCoefficients coefficients(const Curvature& curvature) const;
  // One accepted step to x + s with gradient g+ there: updates H (deferred) and the direction.
  void accept(const LinePoint& point, const std::vector<double>& next_gradient);
  // SciPy's first trial step: min(1, 2.02 (f - f_previous) / slope), 1 when that is not > 0.
  double first_trial(double slope) const;
  void end_of_chunk();
  // Runs work on H, adding its time to hessian_seconds_; returns what it returns.
  template <typename Work>
  auto on_hessian(Work work);
  std::vector<double> hessian_times(const std::vector<double>& v);  // H v, timed

  QuasiNewtonOptions options_;
  std::vector<double> x_;
  bool evaluated_ = false;  // loss_, gradient_ and direction_ hold at x_
  double loss_ = 0;
  double previous_loss_ = 0;  // the loss one iteration back (SciPy's old_old_fval)
  std::vector<double> gradient_;
  std::vector<double> direction_;  // p = -H g
  InverseHessian h_;
  Status status_ = Status::running;
  Step last_step_;
  int64_t iterations_ = 0, evaluations_ = 0, resets_ = 0, skipped_ = 0;
  int64_t since_check_ = 0;     // iterations since the last symmetrisation
  int failed_searches_ = 0;     // in a row
  double hessian_seconds_ = 0;  // not checkpointed: a measurement of this process
};

}  // namespace pinn::train
