// L-BFGS with a strong-Wolfe line search on a flat float64 vector, and the lbfgs stage that runs
// it.
#include "train/optimizers/lbfgs.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "train/optimizers/flat_stage.hpp"
#include "train/optimizers/flat_vector.hpp"

namespace pinn::train {

namespace {

constexpr double kSufficientDecrease = 1e-4;  // Wolfe's c1
constexpr double kCurvature = 0.9;            // Wolfe's c2
// The zoom ends when its bracket, measured along the largest entry of the direction, is
// narrower than this (PyTorch's value).
constexpr double kBracketWidth = 1e-9;

double sum_abs(const std::vector<double>& v) {
  double sum = 0;
  for (const double e : v)
    sum += std::abs(e);
  return sum;
}

// The minimiser in [lo, hi] of the cubic through (t1, f1) and (t2, f2) with slopes g1 and g2;
// the middle of [lo, hi] when the cubic has no minimum there.
double cubic_minimum(double t1, double f1, double g1, double t2, double f2, double g2, double lo,
                     double hi) {
  const double d1 = g1 + g2 - 3 * (f1 - f2) / (t1 - t2);
  const double d2_square = d1 * d1 - g1 * g2;
  if (!(d2_square >= 0) || !std::isfinite(d2_square)) return (lo + hi) / 2;
  const double d2 = std::sqrt(d2_square);
  const double minimum = t1 <= t2 ? t2 - (t2 - t1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
                                  : t1 - (t1 - t2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
  if (!std::isfinite(minimum)) return (lo + hi) / 2;
  return std::min(std::max(minimum, lo), hi);
}

torch::Tensor to_tensor(const std::vector<double>& v) {
  return torch::tensor(v, torch::kFloat64);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor flat = t.to(torch::kFloat64).contiguous().view(-1);
  const double* data = flat.data_ptr<double>();
  return std::vector<double>(data, data + flat.numel());
}

}  // namespace

Lbfgs::Lbfgs(LbfgsOptions options, std::vector<double> start)
    : options_(options),
      x_(std::move(start)),
      gradient_(x_.size(), 0.0),
      history_(static_cast<size_t>(std::max(options.history, 0)), x_.size()) {}

void Lbfgs::evaluate(const Objective& objective) {
  loss_ = objective(x_, gradient_);
  ++evaluations_;
  evaluated_ = true;
}

Lbfgs::Point Lbfgs::evaluate_along(const Objective& objective, double t) {
  std::vector<double> x = x_;
  axpy(t, d_, x);
  Point point;
  point.t = t;
  point.gradient.assign(x.size(), 0.0);
  point.loss = objective(x, point.gradient);
  point.slope = dot(point.gradient, d_);
  ++evaluations_;
  return point;
}

void CurvatureHistory::push(const std::vector<double>& s, const std::vector<double>& y,
                            double rho) {
  if (capacity_ == 0) return;
  if (pairs_ < capacity_ && (oldest_ + pairs_) * size_ >= s_.size()) {  // a row to grow
    s_.resize(s_.size() + size_);
    y_.resize(y_.size() + size_);
    rho_.resize(rho_.size() + 1);
  }
  const size_t slot = row(pairs_ < capacity_ ? pairs_ : 0);
  if (pairs_ < capacity_) {
    ++pairs_;
  } else {
    oldest_ = (oldest_ + 1) % capacity_;
  }
  std::copy(s.begin(), s.end(), s_.begin() + static_cast<std::ptrdiff_t>(slot * size_));
  std::copy(y.begin(), y.end(), y_.begin() + static_cast<std::ptrdiff_t>(slot * size_));
  rho_[slot] = rho;
}

// The two-loop recursion: minus the inverse-Hessian estimate times the gradient. Each pass
// updates d and takes the product the next pass needs.
void Lbfgs::find_direction() {
  d_.resize(gradient_.size());
  for (size_t k = 0; k < gradient_.size(); ++k)
    d_[k] = -gradient_[k];
  const size_t pairs = fresh_ ? 0 : history_.pairs(), n = d_.size();
  if (pairs == 0) return;
  alpha_.resize(pairs);
  double product = dot(history_.s(pairs - 1), d_.data(), n);  // s_i . d, newest first
  for (size_t i = pairs; i-- > 0;) {
    alpha_[i] = history_.rho(i) * product;
    product = update_then_dot(-alpha_[i], history_.y(i), d_.data(),
                              i > 0 ? history_.s(i - 1) : nullptr, n);
  }
  for (auto& e : d_)
    e *= h_diag_;
  product = dot(history_.y(0), d_.data(), n);  // y_i . d, oldest first
  for (size_t i = 0; i < pairs; ++i) {
    const double beta = history_.rho(i) * product;
    product = update_then_dot(alpha_[i] - beta, history_.s(i), d_.data(),
                              i + 1 < pairs ? history_.y(i + 1) : nullptr, n);
  }
}

void Lbfgs::remember(const std::vector<double>& s, const std::vector<double>& y) {
  const double ys = dot(y, s), yy = dot(y, y);
  // Relative, so that it holds at any scale of the loss; a pair without positive curvature
  // would make the estimate indefinite.
  if (!(ys > std::numeric_limits<double>::epsilon() * yy)) return;
  history_.push(s, y, 1 / ys);
  h_diag_ = ys / yy;
}

void Lbfgs::reset_history() {
  history_.clear();
  h_diag_ = 1;
  fresh_ = true;
}

void Lbfgs::forget_objective() {
  evaluated_ = false;
  status_ = Status::running;
  reset_history();
}

int Lbfgs::iterate(int iterations, const Objective& objective) {
  status_ = Status::running;
  if (!evaluated_) evaluate(objective);
  int done = 0;
  while (done < iterations) {
    if (max_abs(gradient_) <= options_.tolerance_grad) {
      status_ = Status::converged;
      break;
    }
    find_direction();
    double slope = dot(gradient_, d_);
    if (!(slope < 0)) {  // not downhill (a history spoilt by noise): steepest descent
      reset_history();
      find_direction();
      slope = dot(gradient_, d_);
      if (!(slope < 0)) {  // a gradient that is not finite
        status_ = Status::stalled;
        break;
      }
    }
    // The first step of a fresh history is scaled to the gradient's size, as in PyTorch.
    const double first = (fresh_ ? std::min(1.0, 1.0 / sum_abs(gradient_)) : 1.0) * options_.lr;
    const Point next = options_.line_search ? strong_wolfe(objective, first, slope)
                                            : evaluate_along(objective, first);
    ++done;
    ++iterations_;
    std::vector<double> step = d_;
    for (auto& e : step)
      e *= next.t;
    const bool finite = std::isfinite(next.loss) && std::isfinite(max_abs(next.gradient));
    const bool moved = finite && next.t != 0 && (!options_.line_search || next.loss <= loss_);
    const bool progress =
        moved &&
        std::abs(loss_ - next.loss) >
            options_.tolerance_change * std::max(std::abs(loss_), std::abs(next.loss)) &&
        max_abs(step) > options_.tolerance_change;
    if (moved) {
      std::vector<double> change = next.gradient;
      axpy(-1, gradient_, change);
      axpy(1, step, x_);
      loss_ = next.loss;
      gradient_ = next.gradient;
      remember(step, change);
      fresh_ = false;
    }
    if (!progress) {
      // Like a restart of SciPy's L-BFGS-B: the history may be what stopped progress. From a
      // fresh history, no progress is a true stop.
      if (!fresh_ && restarts_ < options_.max_restarts) {
        ++restarts_;
        reset_history();
        continue;
      }
      status_ = Status::stalled;
      break;
    }
  }
  return done;
}

// Bracketing, then zooming (Nocedal & Wright, algorithms 3.5 and 3.6). The returned point
// satisfies the strong Wolfe conditions, or is the lowest one seen within the evaluation budget
// (possibly t = 0: no decrease found).
Lbfgs::Point Lbfgs::strong_wolfe(const Objective& objective, double t, double slope) {
  const double start_loss = loss_;
  const double d_largest = max_abs(d_);
  const Point start{0, loss_, slope, gradient_};
  const auto sufficient = [&](const Point& p) {
    return std::isfinite(p.loss) && p.loss <= start_loss + kSufficientDecrease * p.t * slope;
  };
  const auto flat_enough = [&](const Point& p) { return std::abs(p.slope) <= -kCurvature * slope; };

  Point previous = start;
  Point current = evaluate_along(objective, t);
  int searched = 0;  // evaluations after the first
  std::vector<Point> bracket;
  bool done = false;
  while (searched < options_.max_line_search_evaluations) {
    if (!sufficient(current) || (searched > 1 && current.loss >= previous.loss)) {
      bracket = {previous, current};
      break;
    }
    if (flat_enough(current)) {
      bracket = {current};
      done = true;
      break;
    }
    if (current.slope >= 0) {
      bracket = {previous, current};
      break;
    }
    // Still descending: extrapolate, at least 1 % beyond and at most ten times as far.
    const double next_t =
        cubic_minimum(previous.t, previous.loss, previous.slope, current.t, current.loss,
                      current.slope, current.t + 0.01 * (current.t - previous.t), current.t * 10);
    previous = std::move(current);
    current = evaluate_along(objective, next_t);
    ++searched;
  }
  if (bracket.empty()) bracket = {start, current};

  size_t low = 0, high = 1;
  const auto order = [&] {
    low = bracket[0].loss <= bracket.back().loss ? 0 : 1;
    high = 1 - low;
  };
  if (bracket.size() == 2) order();
  bool insufficient_progress = false;
  while (!done && searched < options_.max_line_search_evaluations) {
    if (std::abs(bracket[1].t - bracket[0].t) * d_largest < kBracketWidth) break;
    const double lo = std::min(bracket[0].t, bracket[1].t),
                 hi = std::max(bracket[0].t, bracket[1].t);
    double next_t = cubic_minimum(bracket[0].t, bracket[0].loss, bracket[0].slope, bracket[1].t,
                                  bracket[1].loss, bracket[1].slope, lo, hi);
    // Keep trial points away from the bracket's ends, or it may shrink too slowly.
    const double margin = 0.1 * (hi - lo);
    if (std::min(hi - next_t, next_t - lo) < margin) {
      if (insufficient_progress || next_t >= hi || next_t <= lo) {
        next_t = std::abs(next_t - hi) < std::abs(next_t - lo) ? hi - margin : lo + margin;
        insufficient_progress = false;
      } else {
        insufficient_progress = true;
      }
    } else {
      insufficient_progress = false;
    }
    Point trial = evaluate_along(objective, next_t);
    ++searched;
    if (!sufficient(trial) || trial.loss >= bracket[low].loss) {
      bracket[high] = std::move(trial);
      order();
    } else {
      if (flat_enough(trial)) {
        done = true;
      } else if (trial.slope * (bracket[high].t - bracket[low].t) >= 0) {
        bracket[high] = bracket[low];
      }
      bracket[low] = std::move(trial);
    }
  }
  return bracket.size() == 1 ? bracket[0] : bracket[low];
}

void Lbfgs::save(torch::serialize::OutputArchive& archive) const {
  const auto n = static_cast<int64_t>(x_.size());
  const auto pairs = static_cast<int64_t>(history_.pairs());
  torch::Tensor s = torch::empty({pairs, n}, torch::kFloat64);
  torch::Tensor y = torch::empty({pairs, n}, torch::kFloat64);
  torch::Tensor rho = torch::empty({pairs}, torch::kFloat64);
  for (int64_t i = 0; i < pairs; ++i) {
    const auto pair = static_cast<size_t>(i);
    std::copy(history_.s(pair), history_.s(pair) + n, s.data_ptr<double>() + i * n);
    std::copy(history_.y(pair), history_.y(pair) + n, y.data_ptr<double>() + i * n);
    rho[i] = history_.rho(pair);
  }
  archive.write("x", to_tensor(x_), true);
  archive.write("gradient", to_tensor(gradient_), true);
  archive.write("s", s, true);
  archive.write("y", y, true);
  archive.write("rho", rho, true);
  archive.write("values", torch::tensor({loss_, h_diag_}, torch::kFloat64), true);
  archive.write(
      "counts",
      torch::tensor({static_cast<int64_t>(evaluated_), static_cast<int64_t>(fresh_), iterations_,
                     evaluations_, static_cast<int64_t>(restarts_), static_cast<int64_t>(status_)},
                    torch::kInt64),
      true);
}

void Lbfgs::load(torch::serialize::InputArchive& archive) {
  torch::Tensor x, gradient, s, y, rho, values, counts;
  archive.read("x", x, true);
  archive.read("gradient", gradient, true);
  archive.read("s", s, true);
  archive.read("y", y, true);
  archive.read("rho", rho, true);
  archive.read("values", values, true);
  archive.read("counts", counts, true);
  const auto size = static_cast<int64_t>(x_.size());
  if (x.numel() != size || gradient.numel() != size || s.size(0) != rho.numel() ||
      y.size(0) != rho.numel() || (rho.numel() > 0 && s.size(1) != size)) {
    throw std::runtime_error("the L-BFGS state is for " + std::to_string(x.numel()) +
                             " parameters, this network has " + std::to_string(size));
  }
  x_ = to_vector(x);
  gradient_ = to_vector(gradient);
  history_.clear();
  const auto rho_values = to_vector(rho);
  for (int64_t i = 0; i < rho.numel(); ++i)
    history_.push(to_vector(s[i]), to_vector(y[i]), rho_values[static_cast<size_t>(i)]);
  loss_ = values[0].item<double>();
  h_diag_ = values[1].item<double>();
  evaluated_ = counts[0].item<int64_t>() != 0;
  fresh_ = counts[1].item<int64_t>() != 0;
  iterations_ = counts[2].item<int64_t>();
  evaluations_ = counts[3].item<int64_t>();
  restarts_ = static_cast<int>(counts[4].item<int64_t>());
  status_ = static_cast<Status>(counts[5].item<int64_t>());
}

// ---- the stage ----

namespace {

using config::Reader;

// The lbfgs stage: Lbfgs on the flattened trainables.
class LbfgsStage : public FlatOptimizerStage<Lbfgs> {
 public:
  LbfgsStage(const StageSpec& spec, std::vector<torch::Tensor> parameters)
      : FlatOptimizerStage("lbfgs", spec, std::move(parameters), "lbfgs_flat",
                           [&](std::vector<double> start, torch::Device) {
                             return Lbfgs(options(spec.lbfgs), std::move(start));
                           }),
        options_(options(spec.lbfgs)) {}

 protected:
  // Checkpoints from before this implementation hold LibTorch's L-BFGS state instead.
  void load_without_state() override {
    spdlog::warn(
        "lbfgs: the checkpoint holds an older L-BFGS state; continuing from its "
        "weights with a fresh curvature history");
    restart_from_weights();
  }

  void restart_from_weights() override { optimizer_ = Lbfgs(options_, flatten()); }

 private:
  static LbfgsOptions options(const LbfgsSettings& s) {
    LbfgsOptions options;
    options.lr = s.lr;
    options.history = s.history;
    options.line_search = uses_line_search(s.line_search);
    options.tolerance_grad = s.tolerance_grad;
    options.tolerance_change = s.tolerance_change;
    return options;
  }

  LbfgsOptions options_;
};

void read_lbfgs(Reader& reader, StageSpec& spec) {
  auto& s = spec.lbfgs;
  s.lr = reader.positive("lr", s.lr);
  s.history = reader.positive_int("history", s.history);
  s.line_search = read_line_search(reader, s.line_search);
  s.tolerance_grad = reader.non_negative("tolerance_grad", s.tolerance_grad);
  s.tolerance_change = reader.non_negative("tolerance_change", s.tolerance_change);
}

std::unique_ptr<Stage> make_lbfgs(const StageSpec& spec, std::vector<torch::Tensor> parameters) {
  return std::make_unique<LbfgsStage>(spec, std::move(parameters));
}

}  // namespace

StageType lbfgs_stage_type() {
  return {read_lbfgs, make_lbfgs, /*dense_hessian=*/false, /*one_evaluation_per_iteration=*/false};
}

}  // namespace pinn::train
