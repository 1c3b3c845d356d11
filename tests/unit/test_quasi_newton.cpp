// The dense quasi-Newton optimizers (train/optimizers/quasi_newton, inverse_hessian), the
// Moré–Thuente line search (train/optimizers/line_search) and Adam's learning-rate schedules
// (train/lr_schedule), in float64 against direct computations.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <random>
#include <sstream>
#include <vector>

#include "train/lr_schedule.hpp"
#include "train/optimizers/inverse_hessian.hpp"
#include "train/optimizers/line_search.hpp"
#include "train/optimizers/quasi_newton.hpp"

namespace pinn::train {
namespace {

using Vector = std::vector<double>;

const QuasiNewtonMethod kMethods[] = {QuasiNewtonMethod::bfgs, QuasiNewtonMethod::ssbfgs,
                                      QuasiNewtonMethod::ssbroyden};

torch::Tensor as_tensor(const Vector& v) {
  return torch::tensor(v, torch::kFloat64);
}

Vector as_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return Vector(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// A random symmetric positive definite matrix with eigenvalues in [low, high].
torch::Tensor random_spd(int64_t n, double low, double high, uint64_t seed) {
  torch::manual_seed(seed);
  const auto q = std::get<0>(torch::linalg_qr(torch::randn({n, n}, torch::kFloat64)));
  const auto eigenvalues = low + (high - low) * torch::rand({n}, torch::kFloat64);
  return q.matmul(torch::diag(eigenvalues)).matmul(q.t());
}

// The update applied to H directly, as dense matrices.
torch::Tensor apply(const UpdateCoefficients& u, const torch::Tensor& h, const torch::Tensor& s,
                    const torch::Tensor& hy) {
  return u.scale * h + u.ss * torch::outer(s, s) +
         u.sh * (torch::outer(s, hy) + torch::outer(hy, s)) + u.hh * torch::outer(hy, hy);
}

// One step's curvature from H, g, alpha and y (s = -alpha H g).
struct StepData {
  Curvature curvature;
  torch::Tensor s, hy;
};

StepData step_data(const torch::Tensor& h, const torch::Tensor& g, double alpha,
                   const torch::Tensor& y) {
  StepData d;
  d.s = -alpha * h.mv(g);
  d.hy = h.mv(y);
  d.curvature.step = alpha;
  d.curvature.s_dot_g = d.s.dot(g).item<double>();
  d.curvature.y_dot_s = y.dot(d.s).item<double>();
  d.curvature.y_dot_h = y.dot(d.hy).item<double>();
  d.curvature.dimension = h.size(0);
  return d;
}

UpdateCoefficients coefficients(QuasiNewtonMethod method, const Curvature& c) {
  switch (method) {
    case QuasiNewtonMethod::bfgs:
      return bfgs_update(c);
    case QuasiNewtonMethod::ssbfgs:
      return self_scaled_bfgs_update(c);
    case QuasiNewtonMethod::ssbroyden:
      break;
  }
  return broyden_update(c, ssbroyden_choice(c));
}

TEST(InverseHessian, BfgsUpdateIsTheTextbookFormulaAndSatisfiesTheSecantEquation) {
  const int64_t n = 7;
  const auto h = random_spd(n, 0.5, 3, 1);
  const auto g = torch::randn({n}, torch::kFloat64);
  const auto a = random_spd(n, 1, 4, 2);
  const auto s = -0.7 * h.mv(g);
  const auto y = a.mv(s);
  const auto data = step_data(h, g, 0.7, y);
  const double rho = 1 / data.curvature.y_dot_s;
  const auto identity = torch::eye(n, torch::kFloat64);
  // Nocedal & Wright (6.17): (I - rho s y') H (I - rho y s') + rho s s'.
  const auto expected =
      (identity - rho * torch::outer(s, y)).matmul(h).matmul(identity - rho * torch::outer(y, s)) +
      rho * torch::outer(s, s);
  const auto updated = apply(bfgs_update(data.curvature), h, data.s, data.hy);
  EXPECT_LT((updated - expected).abs().max().item<double>(), 1e-12);
  EXPECT_LT((updated.mv(y) - s).abs().max().item<double>(), 1e-12);  // H+ y = s
}

TEST(InverseHessian, SsbroydenWithTheBfgsThetaAndTauIsBfgs) {
  const int64_t n = 9;
  const auto h = random_spd(n, 0.2, 5, 3);
  const auto g = torch::randn({n}, torch::kFloat64);
  const auto s = -1.3 * h.mv(g);
  const auto y = random_spd(n, 0.5, 2, 4).mv(s) + 0.05 * torch::randn({n}, torch::kFloat64);
  const auto data = step_data(h, g, 1.3, y);
  ASSERT_GT(data.curvature.y_dot_s, 0);
  const auto broyden = apply(broyden_update(data.curvature, {0.0, 1.0}), h, data.s, data.hy);
  const auto bfgs = apply(bfgs_update(data.curvature), h, data.s, data.hy);
  EXPECT_LT((broyden - bfgs).abs().max().item<double>(), 1e-12 * bfgs.abs().max().item<double>());
  // Every member of the scaled class keeps the secant equation H+ y = s.
  const auto chosen =
      apply(coefficients(QuasiNewtonMethod::ssbroyden, data.curvature), h, data.s, data.hy);
  EXPECT_LT((chosen.mv(y) - s).abs().max().item<double>(), 1e-10);
  const auto scaled =
      apply(coefficients(QuasiNewtonMethod::ssbfgs, data.curvature), h, data.s, data.hy);
  EXPECT_LT((scaled.mv(y) - s).abs().max().item<double>(), 1e-10);
}

// Twenty lazy ssbroyden updates of an n x n H against the same updates on a dense matrix.
void lazy_updates_equal_dense_ones(int64_t n);

TEST(InverseHessian, LazyUpdatesEqualDenseOnesAndTheProductIsTaken) {
  // 37: one range of rows, not a multiple of the lanes; 300: four ranges, scattered and summed.
  for (const int64_t n : {37, 300}) {
    lazy_updates_equal_dense_ones(n);
  }
}

// The CPU pass cuts the triangle by n alone: the same products, bit for bit, on 1 or 2 threads.
// The updates are made once (the dense reference's BLAS rounds by thread count) and replayed.
TEST(InverseHessian, ProductsAreTheSameForAnyThreadCount) {
  const int64_t n = 517;
  struct Update {
    UpdateCoefficients u;
    Vector s, hy, v;
  };
  std::vector<Update> updates;
  torch::manual_seed(21);
  auto dense = torch::eye(n, torch::kFloat64);
  const auto a = random_spd(n, 0.5, 4, 9);
  for (int k = 0; k < 5; ++k) {
    const auto g = torch::randn({n}, torch::kFloat64);
    const auto data = step_data(dense, g, 0.5, a.mv(-0.5 * dense.mv(g)));
    const auto u = coefficients(QuasiNewtonMethod::bfgs, data.curvature);
    dense = apply(u, dense, data.s, data.hy);
    updates.push_back(
        {u, as_vector(data.s), as_vector(data.hy), as_vector(torch::randn({n}, torch::kFloat64))});
  }
  const int threads = at::get_num_threads();
  std::vector<Vector> products[2];
  for (int run = 0; run < 2; ++run) {
    at::set_num_threads(run + 1);
    InverseHessian h(n, torch::kCPU);
    for (const auto& update : updates) {
      h.defer(update.u, update.s, update.hy);
      products[run].push_back(h.times(update.v));
    }
  }
  at::set_num_threads(threads);
  EXPECT_EQ(products[0], products[1]);
}

void lazy_updates_equal_dense_ones(int64_t n) {
  InverseHessian lazy(n, torch::kCPU);
  auto dense = torch::eye(n, torch::kFloat64);
  const auto a = random_spd(n, 0.5, 4, 5);
  for (int k = 0; k < 20; ++k) {
    const auto g = torch::randn({n}, torch::kFloat64);
    const auto y = a.mv(-0.5 * dense.mv(g));
    const auto data = step_data(dense, g, 0.5, y);
    const auto u = coefficients(QuasiNewtonMethod::ssbroyden, data.curvature);
    lazy.defer(u, as_vector(data.s), as_vector(data.hy));
    dense = apply(u, dense, data.s, data.hy);
    const auto v = torch::randn({n}, torch::kFloat64);
    const auto product = as_tensor(lazy.times(as_vector(v)));
    EXPECT_LT((product - dense.mv(v)).abs().max().item<double>(), 1e-10) << "n = " << n;
  }
  EXPECT_LT((lazy.matrix() - dense).abs().max().item<double>(), 1e-10) << "n = " << n;
  // A checkpoint holds the whole matrix (any device can load it) and continues exactly.
  torch::serialize::OutputArchive out;
  lazy.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  std::istringstream source(bytes.str());
  in.load_from(source);
  InverseHessian loaded(n, torch::kCPU);
  loaded.load(in);
  EXPECT_TRUE(torch::equal(loaded.matrix(), lazy.matrix()));
  const Vector v = as_vector(torch::randn({n}, torch::kFloat64));
  EXPECT_EQ(loaded.times(v), lazy.times(v));
}

TEST(InverseHessian, StaysSymmetricPositiveDefiniteOverAThousandUpdates) {
  const int64_t n = 12;
  for (const auto method : kMethods) {
    InverseHessian h(n, torch::kCPU);
    std::mt19937_64 random(7);
    std::uniform_real_distribution<double> step(0.05, 2.0);
    torch::manual_seed(8);
    int updates = 0;
    for (int k = 0; k < 1000; ++k) {
      // A random objective's step: a random gradient, and a change of gradient from a random
      // positive definite curvature plus noise (kept when y.s > 0, as the optimizer does).
      const auto matrix = h.matrix();
      const auto g = torch::randn({n}, torch::kFloat64);
      const auto curvature = random_spd(n, 0.1, 10, 100 + static_cast<uint64_t>(k));
      const double alpha = step(random);
      const auto s = -alpha * matrix.mv(g);
      const auto y = curvature.mv(s) + 0.1 * s.norm() * torch::randn({n}, torch::kFloat64);
      const auto data = step_data(matrix, g, alpha, y);
      if (!(data.curvature.y_dot_s > 0)) continue;
      h.defer(coefficients(method, data.curvature), as_vector(data.s), as_vector(data.hy));
      ++updates;
      if (k % 50 == 49) {
        const auto m = h.matrix();
        EXPECT_LT((m - m.t()).abs().max().item<double>(), 1e-9 * m.abs().max().item<double>());
        EXPECT_GT(torch::linalg_eigvalsh(m).min().item<double>(), 0) << "update " << k;
      }
    }
    EXPECT_GT(updates, 900);
    EXPECT_TRUE(h.symmetrize_and_check());
  }
}

TEST(QuasiNewton, BfgsWithExactLineSearchesEndsWithinNPlusOneIterationsOnAQuadratic) {
  // f = x'Ax/2 - b'x: with exact steps, BFGS finds the minimiser in at most n iterations
  // (Nocedal & Wright, theorem 6.4 for the equivalent direct update).
  const int64_t n = 10;
  const auto a = random_spd(n, 1, 100, 11);
  const auto b = torch::randn({n}, torch::kFloat64);
  const auto solution = torch::linalg_solve(a, b);
  InverseHessian h(n, torch::kCPU);
  auto x = torch::zeros({n}, torch::kFloat64);
  auto g = a.mv(x) - b;
  int iterations = 0;
  while (g.norm().item<double>() > 1e-10 * b.norm().item<double>() && iterations <= n + 1) {
    const auto p = -as_tensor(h.times(as_vector(g)));
    const double alpha = -(g.dot(p) / p.dot(a.mv(p))).item<double>();  // exact
    const auto s = alpha * p;
    const auto g_next = g + a.mv(s);
    const auto y = g_next - g;
    Curvature c;
    c.step = alpha;
    c.s_dot_g = s.dot(g).item<double>();
    c.y_dot_s = y.dot(s).item<double>();
    const auto hy = as_tensor(h.times(as_vector(y)));
    c.y_dot_h = y.dot(hy).item<double>();
    c.dimension = n;
    h.defer(bfgs_update(c), as_vector(s), as_vector(hy));
    x = x + s;
    g = g_next;
    ++iterations;
  }
  EXPECT_LE(iterations, n + 1);
  EXPECT_LT((x - solution).abs().max().item<double>(), 1e-9);
  // And H is then the inverse of A (n steps along conjugate directions).
  EXPECT_LT((h.matrix().matmul(a) - torch::eye(n, torch::kFloat64)).abs().max().item<double>(),
            1e-6);
}

// The extended Rosenbrock function (Moré, Garbow and Hillstrom's problem 21): over the pairs
// (x_{2i}, x_{2i+1}), sum 100 (x_{2i+1} - x_{2i}^2)^2 + (1 - x_{2i})^2; its minimum is 0 at x = 1,
// its only stationary point.
double rosenbrock(const Vector& x, Vector& gradient) {
  double f = 0;
  for (size_t i = 0; i + 1 < x.size(); i += 2) {
    const double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
    f += 100 * a * a + b * b;
    gradient[i] = -400 * a * x[i] - 2 * b;
    gradient[i + 1] = 200 * a;
  }
  return f;
}

Vector rosenbrock_start(size_t n) {
  Vector x(n);
  for (size_t i = 0; i < n; ++i)
    x[i] = i % 2 == 0 ? -1.2 : 1.0;
  return x;
}

TEST(QuasiNewton, EachMethodSolvesRosenbrockWithStrongWolfeSteps) {
  for (const size_t n : {2u, 10u}) {
    for (const auto method : kMethods) {
      SCOPED_TRACE("n = " + std::to_string(n) + ", method " +
                   std::to_string(static_cast<int>(method)));
      QuasiNewtonOptions options;
      options.method = method;
      options.tolerance_grad = 1e-12;
      QuasiNewton optimizer(options, rosenbrock_start(n));
      int iterations = 0;
      while (iterations < 5000 && optimizer.iterate(1, rosenbrock) == 1) {
        ++iterations;
        const auto& step = optimizer.last_step();
        const auto& c = options.search;
        EXPECT_LE(step.point.value,
                  step.start_value + c.sufficient_decrease * step.point.step * step.start_slope);
        EXPECT_LE(std::abs(step.point.slope), c.curvature * std::abs(step.start_slope));
        EXPECT_GT(step.point.step, 0);
      }
      EXPECT_EQ(optimizer.status(), QuasiNewton::Status::converged);
      Vector gradient(n);
      EXPECT_LT(rosenbrock(optimizer.x(), gradient), 1e-20);
      for (const double e : optimizer.x())
        EXPECT_NEAR(e, 1.0, 1e-10);
    }
  }
}

TEST(QuasiNewton, SavedStateContinuesExactly) {
  QuasiNewtonOptions options;
  options.restart_every = 7;  // a symmetrisation inside the window
  QuasiNewton first(options, rosenbrock_start(10));
  ASSERT_EQ(first.iterate(15, rosenbrock), 15);
  torch::serialize::OutputArchive out;
  first.save(out);
  std::stringstream buffer;
  out.save_to(buffer);
  ASSERT_EQ(first.iterate(20, rosenbrock), 20);

  torch::serialize::InputArchive in;
  in.load_from(buffer);
  QuasiNewton second(options, Vector(10, 0.0));
  second.load(in);
  ASSERT_EQ(second.iterate(20, rosenbrock), 20);
  EXPECT_EQ(first.x(), second.x());
  EXPECT_EQ(first.loss(), second.loss());
  EXPECT_EQ(first.evaluations(), second.evaluations());
}

TEST(QuasiNewton, RestartsFromTheIdentityWhenHIsNotPositiveDefinite) {
  // Steps of a concave region give y.s <= 0: the update is skipped, H stays positive definite.
  QuasiNewtonOptions options;
  options.restart_every = 1;
  QuasiNewton optimizer(options, {0.3, -0.2});
  const auto objective = [](const Vector& x, Vector& g) {
    // A double well: concave near 0, minima at +-1 in each coordinate.
    double f = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      f += (x[i] * x[i] - 1) * (x[i] * x[i] - 1);
      g[i] = 4 * x[i] * (x[i] * x[i] - 1);
    }
    return f;
  };
  optimizer.iterate(200, objective);
  for (const double e : optimizer.x())
    EXPECT_NEAR(std::abs(e), 1.0, 1e-8);
  EXPECT_EQ(
      std::get<1>(torch::linalg_cholesky_ex(optimizer.inverse_hessian().matrix())).item<int64_t>(),
      0);
}

// The functions of Moré and Thuente's section 6 (their tables 1-3), from several first steps.
TEST(LineSearch, MoreThuenteFindsStrongWolfePointsOnThePapersFunctions) {
  struct Case {
    std::function<LinePoint(double)> line;
    double c1, c2;
  };
  const auto make = [](std::function<double(double)> f, std::function<double(double)> df) {
    return [f, df](double t) { return LinePoint{t, f(t), df(t)}; };
  };
  const double beta = 2;
  std::vector<Case> cases = {
      {make([=](double t) { return -t / (t * t + beta); },
            [=](double t) { return (t * t - beta) / ((t * t + beta) * (t * t + beta)); }),
       1e-3, 0.1},
      {make([](double t) { return std::pow(t + 0.004, 5) - 2 * std::pow(t + 0.004, 4); },
            [](double t) { return 5 * std::pow(t + 0.004, 4) - 8 * std::pow(t + 0.004, 3); }),
       0.1, 0.1},
      {make(
           [](double t) {
             const double b = 0.01, l = 39, pi = 3.14159265358979323846;
             const double phi0 = t <= 1 - b   ? 1 - t
                                 : t >= 1 + b ? t - 1
                                              : (t - 1) * (t - 1) / (2 * b) + b / 2;
             return phi0 + 2 * (1 - b) / (l * pi) * std::sin(l * pi / 2 * t);
           },
           [](double t) {
             const double b = 0.01, l = 39, pi = 3.14159265358979323846;
             const double dphi0 = t <= 1 - b ? -1 : t >= 1 + b ? 1 : (t - 1) / b;
             return dphi0 + (1 - b) * std::cos(l * pi / 2 * t);
           }),
       0.1, 0.1},
  };
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto& c = cases[k];
    const LinePoint start = c.line(0);
    ASSERT_LT(start.slope, 0);
    for (const double first : {1e-3, 1e-1, 1.0, 10.0, 1e3}) {
      LineSearchOptions options;
      options.sufficient_decrease = c.c1;
      options.curvature = c.c2;
      const auto result = more_thuente(c.line, start.value, start.slope, first, options);
      SCOPED_TRACE("function " + std::to_string(k + 1) + ", first step " + std::to_string(first));
      ASSERT_TRUE(result.found);
      EXPECT_LE(result.point.value, start.value + c.c1 * result.point.step * start.slope);
      EXPECT_LE(std::abs(result.point.slope), c.c2 * std::abs(start.slope));
      EXPECT_LT(result.evaluations, 30);
    }
  }
}

TEST(LineSearch, BacksOffFromAnOverflow) {
  // exp grows past the float range beyond t = 700; the minimum of exp(t) - 3t is at log 3.
  const auto line = [](double t) { return LinePoint{t, std::exp(t) - 3 * t, std::exp(t) - 3}; };
  const auto result = more_thuente(line, 1, -2, 1e4);
  ASSERT_TRUE(result.found);
  EXPECT_LE(std::abs(result.point.slope), 0.9 * 2);
}

TEST(LearningRateSchedule, GivesEachTypesRate) {
  LearningRateSchedule s;
  s.type = "exponential";
  s.rate = 0.98;
  s.steps = 1000;
  EXPECT_DOUBLE_EQ(s.at(5e-3, 0), 5e-3);
  EXPECT_NEAR(s.at(5e-3, 1000), 5e-3 * 0.98, 1e-18);
  EXPECT_NEAR(s.at(5e-3, 500), 5e-3 * std::sqrt(0.98), 1e-18);
  s.staircase = true;
  EXPECT_DOUBLE_EQ(s.at(5e-3, 999), 5e-3);
  s.type = "cosine";
  s.final_lr = 1e-5;
  EXPECT_DOUBLE_EQ(s.at(1e-3, 0), 1e-3);
  EXPECT_NEAR(s.at(1e-3, 500), (1e-3 + 1e-5) / 2, 1e-15);
  EXPECT_NEAR(s.at(1e-3, 1000), 1e-5, 1e-15);
  EXPECT_NEAR(s.at(1e-3, 5000), 1e-5, 1e-15);
  s.type = "step";
  s.rate = 0.5;
  s.steps = 100;
  EXPECT_DOUBLE_EQ(s.at(1.0, 99), 1.0);
  EXPECT_DOUBLE_EQ(s.at(1.0, 250), 0.25);
  s.type = "inverse_time";
  s.rate = 1;
  EXPECT_DOUBLE_EQ(s.at(1.0, 100), 0.5);
  s.warmup = 10;
  EXPECT_DOUBLE_EQ(s.at(1.0, 0), 0.1);
  EXPECT_DOUBLE_EQ(s.at(1.0, 9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(1.0, 10), 1.0);   // the schedule's own step 0
  EXPECT_DOUBLE_EQ(s.at(1.0, 110), 0.5);  // its step 100
}

}  // namespace
}  // namespace pinn::train
