// The lbfgs stage (its keys and its record in train/stage.cpp's registry) and the optimizer it
// runs: L-BFGS on one flat float64 vector, with a strong-Wolfe line search (bracketing, then
// zooming by safeguarded cubic interpolation: Nocedal & Wright, algorithms 3.5 and 3.6, as
// PyTorch's and SciPy's optimizers do it). It owns the iterate, the loss and gradient there and the
// curvature history; the objective (the network's loss and parameter gradient) is a callback.
//
// Why not torch::optim::LBFGS: it runs its two-loop recursion as some 400 tensor operations per
// iteration (this one took about 15 % less time per Burgers iteration), keeps a curvature pair only
// when y.s > 1e-10 (an absolute threshold that small PINN losses never pass), works in the
// parameters' dtype (float32 state stalls) and cannot serialize its own state early in a run.
// Here the history is kept in float64 whatever the network's dtype (in blocks of rows that the
// recursion reads in fused loops), the curvature test is relative (y.s > eps * y.y, as SciPy's
// L-BFGS-B), and every part of the state is saved.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pinn::train {

struct StageType;  // train/stage.hpp

// The "lbfgs" stage's keys, as the config names them.
struct LbfgsSettings {
  double lr = 1.0;
  int history = 100;
  std::string line_search = "strong_wolfe";  // or "none"
  double tolerance_grad = 1e-9;              // stop when the largest gradient entry is below
  double tolerance_change = 1e-12;  // no progress: the loss changes less than this relative to
                                    // itself, or every step entry is below it
};

// The "lbfgs" stage type: its keys and its stage, which runs Lbfgs (below).
StageType lbfgs_stage_type();

struct LbfgsOptions {
  double lr = 1.0;                  // the step tried first (after the first iteration)
  int history = 100;                // curvature pairs kept
  bool line_search = true;          // strong Wolfe; false: fixed steps of lr
  double tolerance_grad = 1e-9;     // converged when the largest |gradient| entry is below this
  double tolerance_change = 1e-12;  // no progress: the loss changed by less than this relative
                                    // to itself, or every entry of the step is below it
  int max_line_search_evaluations = 25;
  int max_restarts = 50;  // fresh histories after a step without progress, before stalling
};

// The curvature pairs (s, y, rho = 1 / y.s), oldest first, in one block of rows each: a ring
// once `capacity` pairs are kept, so that a new pair replaces the oldest without allocating.
class CurvatureHistory {
 public:
  CurvatureHistory(size_t capacity, size_t size) : capacity_(capacity), size_(size) {}

  size_t pairs() const { return pairs_; }
  const double* s(size_t i) const { return s_.data() + row(i) * size_; }  // i-th oldest
  const double* y(size_t i) const { return y_.data() + row(i) * size_; }
  double rho(size_t i) const { return rho_[row(i)]; }

  void push(const std::vector<double>& s, const std::vector<double>& y, double rho);
  void clear() { pairs_ = oldest_ = 0; }

 private:
  size_t row(size_t i) const { return (oldest_ + i) % capacity_; }

  size_t capacity_, size_;
  size_t pairs_ = 0, oldest_ = 0;
  std::vector<double> s_, y_;  // rows of `size_`, grown up to `capacity_` rows
  std::vector<double> rho_;
};

class Lbfgs {
 public:
  // The loss at x; writes its gradient into `gradient` (sized like x).
  using Objective =
      std::function<double(const std::vector<double>& x, std::vector<double>& gradient)>;

  enum class Status { running, converged, stalled };

  Lbfgs(LbfgsOptions options, std::vector<double> start);

  // Up to `iterations` iterations; returns how many ran. Fewer: status() is converged (the
  // gradient tolerance holds) or stalled (no progress even from a fresh history).
  int iterate(int iterations, const Objective& objective);

  // The objective changed (new points): its values at x and the curvature history are stale.
  void forget_objective();
  // After a rollback: the history led to a divergence. The same as forget_objective().
  void forget_curvature() { forget_objective(); }

  const std::vector<double>& x() const { return x_; }
  Status status() const { return status_; }
  int64_t iterations() const { return iterations_; }
  int64_t evaluations() const { return evaluations_; }
  int restarts() const { return restarts_; }

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  struct Point {                        // x + t d, with the loss and gradient there
    double t = 0, loss = 0, slope = 0;  // slope: gradient . d
    std::vector<double> gradient;
  };

  void evaluate(const Objective& objective);
  Point evaluate_along(const Objective& objective, double t);
  // The search direction into d_.
  void find_direction();
  Point strong_wolfe(const Objective& objective, double t, double slope);
  void remember(const std::vector<double>& s, const std::vector<double>& y);
  void reset_history();

  LbfgsOptions options_;
  std::vector<double> x_;
  bool evaluated_ = false;  // loss_ and gradient_ hold the objective at x_
  double loss_ = 0;
  std::vector<double> gradient_;
  std::vector<double> d_;      // the current search direction
  CurvatureHistory history_;   // steps and gradient changes
  std::vector<double> alpha_;  // the two-loop recursion's coefficients, one per pair
  double h_diag_ = 1;          // the initial inverse-Hessian scale, y.s / y.y of the newest pair
  bool fresh_ = true;          // the next direction is steepest descent
  Status status_ = Status::running;
  int64_t iterations_ = 0;
  int64_t evaluations_ = 0;
  int restarts_ = 0;
};

}  // namespace pinn::train
