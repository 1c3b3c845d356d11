// The dense inverse Hessian and its updates.
#include "train/optimizers/inverse_hessian.hpp"

#include "train/optimizers/flat_vector.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace pinn::train {

namespace {

// On the CPU H is kept as its upper triangle (row i holds H_ij for j >= i; the entries below the
// diagonal are not read): an update and a product then read and write half the matrix, and H is
// symmetric by construction. Row sums run in kLanes lanes in a fixed order: a result depends on
// n and on the instruction set of the clone that runs (AVX-512's may fuse multiply-adds), never
// on the thread count.
constexpr int64_t kLanes = 8;

// Row i of the pending update restricted to j >= i, H_ij <- scale H_ij + a s_j + b h_j (with
// a = ss s_i + sh h_i, b = sh s_i + hh h_i; with Update false, H_ij as it is), and the row's share
// of the product H v: it returns sum_{j >= i} H_ij v_j and adds H_ij v_i to scatter[j] for
// j >= i (the caller takes the diagonal's back out: it counts once).
template <bool Update>
double triangle_row(double* row, double scale, double a, const double* s, double b, const double* h,
                    const double* v, double vi, double* scatter, int64_t length) {
  double lanes[kLanes] = {};
  int64_t j = 0;
  const auto entry = [&](int64_t k) {
    if constexpr (Update) {
      return scale * row[k] + a * s[k] + b * h[k];
    } else {
      return row[k];
    }
  };
  for (; j + kLanes <= length; j += kLanes) {
#pragma omp simd
    for (int64_t k = 0; k < kLanes; ++k) {
      const double value = entry(j + k);
      if constexpr (Update) row[j + k] = value;
      lanes[k] += value * v[j + k];
      scatter[j + k] += value * vi;
    }
  }
  double tail = 0;
  for (; j < length; ++j) {
    const double value = entry(j);
    if constexpr (Update) row[j] = value;
    tail += value * v[j];
    scatter[j] += value * vi;
  }
  double sum = 0;
  for (const double lane : lanes)
    sum += lane;
  return sum + tail;
}

PINN_VECTOR_CLONES double updated_row(double* row, double scale, double a, const double* s,
                                      double b, const double* h, const double* v, double vi,
                                      double* scatter, int64_t length) {
  return triangle_row<true>(row, scale, a, s, b, h, v, vi, scatter, length);
}

PINN_VECTOR_CLONES double unchanged_row(double* row, const double* v, double vi, double* scatter,
                                        int64_t length) {
  return triangle_row<false>(row, 0, 0, nullptr, 0, nullptr, v, vi, scatter, length);
}

// Rows 0..n-1 of the upper triangle cut into `parts` ranges of about equal area (bounds).
std::vector<int64_t> balanced_rows(int64_t n, int parts) {
  std::vector<int64_t> bounds = {0};
  const double area = 0.5 * static_cast<double>(n) * static_cast<double>(n + 1);
  for (int p = 1; p < parts; ++p) {
    // Rows 0..r-1 cover n r - r^2 / 2 entries: solve for r at p / parts of the area.
    const double target = area * p / parts;
    const double nn = static_cast<double>(n) + 0.5;
    const double r = nn - std::sqrt(std::max(0.0, nn * nn - 2 * target));
    bounds.push_back(std::max(bounds.back(), std::min<int64_t>(n, static_cast<int64_t>(r))));
  }
  bounds.push_back(n);
  return bounds;
}

torch::Tensor to_tensor(const std::vector<double>& v, torch::Device device) {
  return torch::tensor(v, torch::kFloat64).to(device);
}

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor flat = t.to(torch::kCPU, torch::kFloat64).contiguous().view(-1);
  return std::vector<double>(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
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
  if (h_.is_cpu()) {
    const std::vector<double> zero(static_cast<size_t>(n_), 0.0);
    triangle_pass(zero);
    return;
  }
  pending_ = false;
  const UpdateCoefficients& u = update_;
  // Off the CPU: the full matrix in tensor operations, symmetrised (their rounding is not).
  const torch::Tensor s = to_tensor(s_, device_), hy = to_tensor(hy_, device_);
  h_.mul_(u.scale).addr_(s, u.ss * s + u.sh * hy).addr_(hy, u.sh * s + u.hh * hy);
  h_.copy_((h_ + h_.t()) / 2);
}

// One pass over the triangle: the pending update (if any) and the product H v. The rows are cut
// into up to kParts ranges of equal area, each with its own scatter vector, summed in a fixed
// order afterwards; threads take whole ranges. The cut depends on n alone, so the result is the
// same for any thread count (a run resumed with other threads continues exactly).
std::vector<double> InverseHessian::triangle_pass(const std::vector<double>& v) {
  constexpr int64_t kParts = 8;
  const bool update = pending_;
  pending_ = false;
  const UpdateCoefficients u = update_;
  double* matrix = h_.data_ptr<double>();
  const int parts = static_cast<int>(std::clamp<int64_t>(n_ / 64, 1, kParts));
  const std::vector<int64_t> bounds = balanced_rows(n_, parts);
  std::vector<std::vector<double>> scatter(static_cast<size_t>(parts),
                                           std::vector<double>(static_cast<size_t>(n_), 0.0));
  std::vector<double> result(static_cast<size_t>(n_), 0.0);
  at::parallel_for(0, parts, 1, [&](int64_t first, int64_t last) {
    for (int64_t part = first; part < last; ++part) {
      double* own = scatter[static_cast<size_t>(part)].data();
      for (int64_t i = bounds[part]; i < bounds[part + 1]; ++i) {
        const double a = u.ss * s_[i] + u.sh * hy_[i], b = u.sh * s_[i] + u.hh * hy_[i];
        double* row = matrix + i * n_ + i;
        // The diagonal entry counts once: it is taken as part of the row, not scattered.
        const double diagonal_before = own[i];
        const double along_row =
            update ? updated_row(row, u.scale, a, s_.data() + i, b, hy_.data() + i, v.data() + i,
                                 v[i], own + i, n_ - i)
                   : unchanged_row(row, v.data() + i, v[i], own + i, n_ - i);
        own[i] = diagonal_before;
        result[i] = along_row;
      }
    }
  });
  for (const auto& part : scatter) {
    for (int64_t j = 0; j < n_; ++j)
      result[j] += part[j];
  }
  return result;
}

std::vector<double> InverseHessian::times(const std::vector<double>& v) {
  if (identity_) return v;
  if (!h_.is_cpu()) {
    apply_pending();
    return to_vector(torch::mv(h_, to_tensor(v, device_)));
  }
  return triangle_pass(v);
}

// The full matrix from the CPU's triangle (the triangle mirrored), or the device's matrix.
torch::Tensor InverseHessian::full() const {
  if (!h_.is_cpu()) return h_;
  const torch::Tensor upper = h_.triu();
  return upper + h_.triu(1).t();
}

bool InverseHessian::symmetrize_and_check() {
  if (identity_) return true;
  apply_pending();
  if (!h_.is_cpu()) h_.copy_((h_ + h_.t()) / 2);  // the CPU's triangle is symmetric as kept
  const auto info = std::get<1>(torch::linalg_cholesky_ex(full()));
  return info.item<int64_t>() == 0;
}

torch::Tensor InverseHessian::matrix() const {
  if (identity_) return torch::eye(n_, torch::TensorOptions(torch::kFloat64));
  InverseHessian copy(*this);
  copy.h_ = h_.clone();
  copy.apply_pending();
  return copy.full().to(torch::kCPU).clone();
}

void InverseHessian::save(torch::serialize::OutputArchive& archive) const {
  archive.write("identity", torch::tensor(static_cast<int64_t>(identity_)), true);
  archive.write("pending", torch::tensor(static_cast<int64_t>(pending_)), true);
  archive.write("update",
                torch::tensor({update_.scale, update_.ss, update_.sh, update_.hh}, torch::kFloat64),
                true);
  archive.write("s", torch::tensor(s_, torch::kFloat64), true);
  archive.write("hy", torch::tensor(hy_, torch::kFloat64), true);
  // The whole matrix (the CPU's triangle mirrored), so that a checkpoint loads on any device.
  archive.write("matrix",
                identity_ || !h_.defined() ? torch::empty({0}, torch::kFloat64)
                                           : full().to(torch::kCPU).contiguous(),
                true);
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
