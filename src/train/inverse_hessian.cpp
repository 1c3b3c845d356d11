// The dense inverse Hessian and its updates.
#include "train/inverse_hessian.hpp"

#include "train/flat_vector.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace pinn::train {

namespace {

// Each row's product is summed in kLanes lanes in a fixed order, so that the result is the same
// whichever of the clones runs.
constexpr int64_t kLanes = 8;

// Row i of the update, then its product with v (one pass over the row):
//   H_ij <- scale H_ij + ss (s_i s_j) + hh (h_i h_j) + sh (s_i h_j + h_i s_j).
// Every term is symmetric in i and j to the last bit (products and sums commute, and this file
// is compiled without contracting them into fused multiply-adds), so H stays exactly symmetric:
// rounding that made H_ij and H_ji differ would grow with each update.
PINN_VECTOR_CLONES double update_row_then_dot(double* row, const UpdateCoefficients& u, double si,
                                              double hi, const double* s, const double* h,
                                              const double* v, int64_t n) {
  double lanes[kLanes] = {};
  int64_t j = 0;
  const auto entry = [&](int64_t k) {
    return u.scale * row[k] + u.ss * (si * s[k]) + u.hh * (hi * h[k]) +
           u.sh * (si * h[k] + hi * s[k]);
  };
  for (; j + kLanes <= n; j += kLanes) {
#pragma omp simd
    for (int64_t k = 0; k < kLanes; ++k) {
      const double value = entry(j + k);
      row[j + k] = value;
      lanes[k] += value * v[j + k];
    }
  }
  double tail = 0;
  for (; j < n; ++j) {
    const double value = entry(j);
    row[j] = value;
    tail += value * v[j];
  }
  double sum = 0;
  for (const double lane : lanes)
    sum += lane;
  return sum + tail;
}

torch::Tensor to_tensor(const std::vector<double>& v, torch::Device device) {
  return torch::tensor(v, torch::kFloat64).to(device);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor flat = t.to(torch::kCPU, torch::kFloat64).contiguous().view(-1);
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
}

// Rows per task of the parallel pass: enough work (a few hundred thousand entries) to pay for
// handing a task to another thread.
int64_t grain(int64_t n) {
  return std::max<int64_t>(1, 262144 / std::max<int64_t>(n, 1));
}

}  // namespace

UpdateCoefficients bfgs_update(const Curvature& c) {
  const double rho = 1 / c.y_dot_s;
  return {1, rho * (1 + rho * c.y_dot_h), -rho, 0};
}

UpdateCoefficients self_scaled_bfgs_update(const Curvature& c) {
  const double rho = 1 / c.y_dot_s;
  const double b = -c.step * rho * c.s_dot_g;
  const double tau = std::min(1.0, 1 / b);
  // BFGS applied to H / tau: h and y.H.y scale with it.
  return {1 / tau, rho * (1 + rho * c.y_dot_h / tau), -rho / tau, 0};
}

BroydenChoice ssbroyden_choice(const Curvature& c) {
  const double rho = 1 / c.y_dot_s;
  const double b = -c.step * rho * c.s_dot_g;
  const double h = rho * c.y_dot_h;
  const double a = b * h - 1;  // >= 0 by Cauchy-Schwarz; 0 when the members coincide
  const double rho_b = std::min(1.0, 1 / b);
  BroydenChoice choice;
  if (!(a > 1e-14)) {
    // s and H y are parallel: every member of the class gives the same H+; only tau matters.
    choice.theta = 0;
    choice.tau = rho_b;
    return choice;
  }
  const double rho_minus = std::min(1.0, h * (1 - std::sqrt(a / (1 + a))));
  const double theta_minus = (rho_minus - 1) / a;
  const double theta_plus = 1 / rho_minus;
  choice.theta = std::max(theta_minus, std::min(theta_plus, (1 - b) / b));
  const double sigma = 1 + choice.theta * a;
  const double sigma_n = std::pow(std::abs(sigma), 1 / (1 - static_cast<double>(c.dimension)));
  choice.tau = choice.theta <= 0 ? std::min(rho_b * sigma_n, sigma)
                                 : rho_b * std::min(sigma_n, 1 / choice.theta);
  return choice;
}

// H+ = (H - h h'/q + phi q v v') / tau + rho s s', v = rho s - h / q, q = y.H.y; expanded in s
// and h.
UpdateCoefficients broyden_update(const Curvature& c, const BroydenChoice& choice) {
  const double rho = 1 / c.y_dot_s, q = c.y_dot_h;
  const double b = -c.step * rho * c.s_dot_g;
  const double a = b * rho * q - 1;
  const double phi = (1 - choice.theta) / (1 + a * choice.theta);
  const double tau = choice.tau;
  return {1 / tau, phi * q * rho * rho / tau + rho, -phi * rho / tau, (phi - 1) / (q * tau)};
}

InverseHessian::InverseHessian(int64_t n, torch::Device device) : n_(n), device_(device) {}

void InverseHessian::reset() {
  identity_ = true;
  pending_ = false;
  if (h_.defined()) {
    h_.zero_();
    h_.diagonal().fill_(1.0);
  }
}

void InverseHessian::materialize() {
  if (!h_.defined()) h_ = torch::eye(n_, torch::TensorOptions(torch::kFloat64).device(device_));
}

void InverseHessian::defer(const UpdateCoefficients& update, const std::vector<double>& s,
                           const std::vector<double>& h) {
  apply_pending();
  materialize();
  update_ = update;
  s_ = s;
  hy_ = h;
  pending_ = true;
  identity_ = false;
}

void InverseHessian::apply_pending() {
  if (!pending_) return;
  pending_ = false;
  const UpdateCoefficients& u = update_;
  if (h_.is_cpu()) {
    // The pass of times(), its product unused: the same arithmetic, entry by entry.
    double* matrix = h_.data_ptr<double>();
    at::parallel_for(0, n_, grain(n_), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        update_row_then_dot(matrix + i * n_, u, s_[i], hy_[i], s_.data(), hy_.data(), s_.data(),
                            n_);
    });
    return;
  }
  // Off the CPU: the same update in tensor operations, symmetrised (their rounding is not).
  const torch::Tensor s = to_tensor(s_, device_), hy = to_tensor(hy_, device_);
  h_.mul_(u.scale).addr_(s, u.ss * s + u.sh * hy).addr_(hy, u.sh * s + u.hh * hy);
  h_.copy_((h_ + h_.t()) / 2);
}

std::vector<double> InverseHessian::times(const std::vector<double>& v) {
  if (identity_) return v;
  std::vector<double> result(static_cast<size_t>(n_));
  if (!h_.is_cpu()) {
    apply_pending();
    return to_vector(torch::mv(h_, to_tensor(v, device_)));
  }
  double* matrix = h_.data_ptr<double>();
  const bool update = pending_;
  pending_ = false;
  const UpdateCoefficients u = update_;
  at::parallel_for(0, n_, grain(n_), [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double* row = matrix + i * n_;
      if (update) {
        result[i] = update_row_then_dot(row, u, s_[i], hy_[i], s_.data(), hy_.data(), v.data(), n_);
      } else {
        result[i] = dot(row, v.data(), static_cast<size_t>(n_));
      }
    }
  });
  return result;
}

bool InverseHessian::symmetrize_and_check() {
  if (identity_) return true;
  apply_pending();
  h_.copy_((h_ + h_.t()) / 2);
  const auto info = std::get<1>(torch::linalg_cholesky_ex(h_));
  return info.item<int64_t>() == 0;
}

torch::Tensor InverseHessian::matrix() const {
  if (identity_) return torch::eye(n_, torch::TensorOptions(torch::kFloat64));
  InverseHessian copy(*this);
  copy.device_ = torch::kCPU;
  copy.h_ = h_.to(torch::kCPU).clone();
  copy.apply_pending();
  return copy.h_;
}

void InverseHessian::save(torch::serialize::OutputArchive& archive) const {
  archive.write("identity", torch::tensor(static_cast<int64_t>(identity_)), true);
  archive.write("pending", torch::tensor(static_cast<int64_t>(pending_)), true);
  archive.write("update",
                torch::tensor({update_.scale, update_.ss, update_.sh, update_.hh}, torch::kFloat64),
                true);
  archive.write("s", torch::tensor(s_, torch::kFloat64), true);
  archive.write("hy", torch::tensor(hy_, torch::kFloat64), true);
  archive.write(
      "matrix",
      identity_ || !h_.defined() ? torch::empty({0}, torch::kFloat64) : h_.to(torch::kCPU), true);
}

void InverseHessian::load(torch::serialize::InputArchive& archive) {
  torch::Tensor identity, pending, update, s, hy, matrix;
  archive.read("identity", identity, true);
  archive.read("pending", pending, true);
  archive.read("update", update, true);
  archive.read("s", s, true);
  archive.read("hy", hy, true);
  archive.read("matrix", matrix, true);
  identity_ = identity.item<int64_t>() != 0;
  pending_ = pending.item<int64_t>() != 0;
  const auto u = to_vector(update);
  update_ = {u.at(0), u.at(1), u.at(2), u.at(3)};
  s_ = to_vector(s);
  hy_ = to_vector(hy);
  if (identity_) {
    reset();
    return;
  }
  if (matrix.dim() != 2 || matrix.size(0) != n_ || matrix.size(1) != n_) {
    throw std::runtime_error("the checkpoint's inverse Hessian is for " +
                             std::to_string(matrix.numel()) + " entries, this network needs " +
                             std::to_string(n_) + " x " + std::to_string(n_));
  }
  h_ = matrix.to(device_, torch::kFloat64).contiguous().clone();
}

}  // namespace pinn::train
