// Dense quasi-Newton iterations. Per iteration: one line search (usually one evaluation), one
// product H g+ (which also applies the previous update to H in the same pass), and O(n) work:
// with p = -H g known, H y = H g+ + p, and the next direction -H+ g+ follows from the update's
// coefficients without a second product.
#include "train/optimizers/quasi_newton.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "train/optimizers/flat_stage.hpp"
#include "train/optimizers/flat_vector.hpp"

namespace pinn::train {

namespace {

torch::Tensor to_tensor(const std::vector<double>& v) {
  return torch::tensor(v, torch::kFloat64);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor flat = t.to(torch::kFloat64).contiguous().view(-1);
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

double norm(const std::vector<double>& v) {
  return std::sqrt(dot(v, v));
}

}  // namespace

QuasiNewton::QuasiNewton(QuasiNewtonOptions options, std::vector<double> start,
                         torch::Device device)
    : options_(options),
      x_(std::move(start)),
      gradient_(x_.size(), 0.0),
      h_(static_cast<int64_t>(x_.size()), device) {}

template <typename Work>
auto QuasiNewton::on_hessian(Work work) {
  const auto start = std::chrono::steady_clock::now();
  auto result = work();
  hessian_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::vector<double> QuasiNewton::hessian_times(const std::vector<double>& v) {
  return on_hessian([&] { return h_.times(v); });
}

void QuasiNewton::evaluate(const Objective& objective) {
  loss_ = objective(x_, gradient_);
  ++evaluations_;
  // SciPy's BFGS starts its first-step rule from a loss "half the gradient's norm" higher.
  previous_loss_ = loss_ + norm(gradient_) / 2;
  direction_ = hessian_times(gradient_);
  for (auto& e : direction_)
    e = -e;
  evaluated_ = true;
}

void QuasiNewton::forget_objective() {
  evaluated_ = false;
  status_ = Status::running;
}

void QuasiNewton::forget_curvature() {
  h_.reset();
  ++resets_;
  forget_objective();
}

void QuasiNewton::restart_direction() {
  h_.reset();
  ++resets_;
  direction_ = gradient_;
  for (auto& e : direction_)
    e = -e;
}

double QuasiNewton::first_trial(double slope) const {
  if (slope == 0) return 1;
  const double step = std::min(1.0, 1.01 * 2 * (loss_ - previous_loss_) / slope);
  return step > 0 && std::isfinite(step) ? step : 1.0;
}

UpdateCoefficients QuasiNewton::coefficients(const Curvature& curvature) const {
  switch (options_.method) {
    case QuasiNewtonMethod::bfgs:
      return bfgs_update(curvature);
    case QuasiNewtonMethod::ssbfgs:
      return self_scaled_bfgs_update(curvature);
    case QuasiNewtonMethod::ssbroyden:
      break;
  }
  return broyden_update(curvature, ssbroyden_choice(curvature));
}

void QuasiNewton::accept(const LinePoint& point, const std::vector<double>& next_gradient) {
  const size_t n = x_.size();
  std::vector<double> s(n), y(n);
  for (size_t i = 0; i < n; ++i) {
    s[i] = point.step * direction_[i];
    y[i] = next_gradient[i] - gradient_[i];
  }
  Curvature curvature;
  curvature.step = point.step;
  curvature.s_dot_g = dot(s, gradient_);
  curvature.y_dot_s = dot(y, s);
  curvature.dimension = static_cast<int64_t>(n);

  std::vector<double> h_next = hessian_times(next_gradient);  // H g+
  std::vector<double> next_direction(n);
  if (curvature.y_dot_s > 0) {
    std::vector<double> hy(n);  // H y = H g+ - H g = H g+ + p
    for (size_t i = 0; i < n; ++i)
      hy[i] = h_next[i] + direction_[i];
    curvature.y_dot_h = dot(y, hy);
    const UpdateCoefficients u = coefficients(curvature);
    const double s_g = dot(s, next_gradient), h_g = dot(hy, next_gradient);
    const double along_s = u.ss * s_g + u.sh * h_g, along_h = u.sh * s_g + u.hh * h_g;
    bool finite = std::isfinite(along_s) && std::isfinite(along_h) && std::isfinite(u.scale);
    for (size_t i = 0; i < n && finite; ++i)
      next_direction[i] = -(u.scale * h_next[i] + along_s * s[i] + along_h * hy[i]);
    if (finite && curvature.y_dot_h > 0) {
      h_.defer(u, s, hy);
    } else {
      for (size_t i = 0; i < n; ++i)
        next_direction[i] = -h_next[i];
      ++skipped_;
    }
  } else {
    // No positive curvature along s: an update would make H indefinite.
    for (size_t i = 0; i < n; ++i)
      next_direction[i] = -h_next[i];
    ++skipped_;
  }
  axpy(1, s, x_);
  previous_loss_ = loss_;
  loss_ = point.value;
  gradient_ = next_gradient;
  direction_ = std::move(next_direction);
}

// The authors run SciPy's BFGS in chunks of restart_every iterations: each chunk symmetrises the
// H the last one left, tests it and starts its first-step rule afresh.
void QuasiNewton::end_of_chunk() {
  since_check_ = 0;
  previous_loss_ = loss_ + norm(gradient_) / 2;
  if (!on_hessian([&] { return h_.symmetrize_and_check(); })) {
    restart_direction();
    return;
  }
  // The symmetrised H gives a (slightly) different direction.
  direction_ = hessian_times(gradient_);
  for (auto& e : direction_)
    e = -e;
}

int QuasiNewton::iterate(int iterations, const Objective& objective) {
  status_ = Status::running;
  if (!evaluated_) evaluate(objective);
  const size_t n = x_.size();
  std::vector<double> trial_x(n), trial_gradient(n);
  int done = 0;
  while (done < iterations) {
    if (max_abs(gradient_) <= options_.tolerance_grad) {
      status_ = Status::converged;
      break;
    }
    double slope = dot(gradient_, direction_);
    if (!(slope < 0)) {  // H lost positive definiteness along g (rounding): start afresh
      restart_direction();
      slope = dot(gradient_, direction_);
      if (!(slope < 0)) {  // a gradient that is not finite
        status_ = Status::stalled;
        break;
      }
    }
    const LineFunction line = [&](double step) {
      for (size_t i = 0; i < n; ++i)
        trial_x[i] = x_[i] + step * direction_[i];
      LinePoint point;
      point.step = step;
      point.value = objective(trial_x, trial_gradient);
      point.slope = dot(trial_gradient, direction_);
      ++evaluations_;
      return point;
    };
    LineSearchResult search;
    if (options_.line_search) {
      search = more_thuente(line, loss_, slope, first_trial(slope), options_.search);
    } else {
      search.point = line(1.0);
      search.found = std::isfinite(search.point.value) && search.point.value < loss_;
    }
    if (!search.found) {
      // As SciPy's BFGS would end here ("precision loss"), start again from steepest descent;
      // from the identity too, the search cannot progress: a true stop.
      if (h_.is_identity() || ++failed_searches_ > options_.max_failed_searches) {
        status_ = Status::stalled;
        break;
      }
      restart_direction();
      continue;
    }
    failed_searches_ = 0;
    last_step_ = {loss_, slope, search.point};
    accept(search.point, trial_gradient);
    ++done;
    ++iterations_;
    if (options_.restart_every > 0 && ++since_check_ >= options_.restart_every) end_of_chunk();
  }
  return done;
}

void QuasiNewton::save(torch::serialize::OutputArchive& archive) const {
  archive.write("x", to_tensor(x_), true);
  archive.write("gradient", to_tensor(gradient_), true);
  archive.write("direction", to_tensor(direction_), true);
  archive.write("values", torch::tensor({loss_, previous_loss_}, torch::kFloat64), true);
  archive.write("counts",
                torch::tensor({static_cast<int64_t>(evaluated_), iterations_, evaluations_, resets_,
                               skipped_, since_check_, static_cast<int64_t>(failed_searches_),
                               static_cast<int64_t>(status_)},
                              torch::kInt64),
                true);
  torch::serialize::OutputArchive h;
  h_.save(h);
  archive.write("inverse_hessian", h);
}

void QuasiNewton::load(torch::serialize::InputArchive& archive) {
  torch::Tensor x, gradient, direction, values, counts;
  archive.read("x", x, true);
  archive.read("gradient", gradient, true);
  archive.read("direction", direction, true);
  archive.read("values", values, true);
  archive.read("counts", counts, true);
  if (x.numel() != static_cast<int64_t>(x_.size())) {
    throw std::runtime_error("the quasi-Newton state is for " + std::to_string(x.numel()) +
                             " parameters, this network has " + std::to_string(x_.size()));
  }
  x_ = to_vector(x);
  gradient_ = to_vector(gradient);
  direction_ = to_vector(direction);
  loss_ = values[0].item<double>();
  previous_loss_ = values[1].item<double>();
  evaluated_ = counts[0].item<int64_t>() != 0;
  iterations_ = counts[1].item<int64_t>();
  evaluations_ = counts[2].item<int64_t>();
  resets_ = counts[3].item<int64_t>();
  skipped_ = counts[4].item<int64_t>();
  since_check_ = counts[5].item<int64_t>();
  failed_searches_ = static_cast<int>(counts[6].item<int64_t>());
  status_ = static_cast<Status>(counts[7].item<int64_t>());
  torch::serialize::InputArchive h;
  archive.read("inverse_hessian", h);
  h_.load(h);
}

// ---- the stages ----

namespace {

using config::Reader;

// The bfgs, ssbfgs and ssbroyden stages: QuasiNewton on the flattened trainables, H kept on the
// parameters' device.
class QuasiNewtonStage : public FlatOptimizerStage<QuasiNewton> {
 public:
  QuasiNewtonStage(const StageSpec& spec, std::vector<torch::Tensor> parameters)
      : FlatOptimizerStage(spec.type, spec, std::move(parameters), "quasi_newton",
                           [&](std::vector<double> start, torch::Device device) {
                             return QuasiNewton(options(spec.quasi_newton), std::move(start),
                                                device);
                           }),
        options_(options(spec.quasi_newton)) {}

  nlohmann::json details() const override {
    return {{"hessian_resets", optimizer_.resets()},
            {"skipped_updates", optimizer_.skipped()},
            {"hessian_seconds", optimizer_.hessian_seconds()}};
  }

 protected:
  void restart_from_weights() override { optimizer_ = QuasiNewton(options_, flatten(), device_); }

 private:
  static QuasiNewtonOptions options(const QuasiNewtonSettings& s) {
    QuasiNewtonOptions options;
    options.method = s.method;
    options.line_search = uses_line_search(s.line_search);
    options.restart_every = s.restart_every;
    options.tolerance_grad = s.tolerance_grad;
    return options;
  }

  QuasiNewtonOptions options_;
};

void read_quasi_newton(Reader& reader, StageSpec& spec) {
  auto& s = spec.quasi_newton;
  s.line_search = read_line_search(reader, s.line_search);
  s.restart_every = reader.non_negative_int("restart_every", s.restart_every,
                                            "a number of iterations >= 0 (0: never)");
  s.tolerance_grad = reader.non_negative("tolerance_grad", s.tolerance_grad);
  s.max_parameters = reader.positive_int("max_parameters", s.max_parameters);
}

std::unique_ptr<Stage> make_quasi_newton(const StageSpec& spec,
                                         std::vector<torch::Tensor> parameters) {
  return std::make_unique<QuasiNewtonStage>(spec, std::move(parameters));
}

}  // namespace

StageType quasi_newton_stage_type(QuasiNewtonMethod method) {
  const auto read = [method](Reader& reader, StageSpec& spec) {
    spec.quasi_newton.method = method;
    read_quasi_newton(reader, spec);
  };
  return {read, make_quasi_newton, /*dense_hessian=*/true, /*one_evaluation_per_iteration=*/false};
}

}  // namespace pinn::train
