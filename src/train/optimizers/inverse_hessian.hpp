// A dense inverse-Hessian estimate H (n x n, float64, on the parameters' device) and the
// quasi-Newton updates that keep it: BFGS, Al-Baali's self-scaled BFGS and the self-scaled
// Broyden update of Kiyani, Shukla, Urbán, Darbon and Karniadakis ("Optimizing the optimizer for
// PINNs and KANs", arXiv 2501.16371, their "SSBroyden2").
//
// Every one of these updates has the form
//   H+ = scale H + c_ss s s' + c_sh (s h' + h s') + c_hh h h',   h = H y,
// so an update is four numbers and two vectors. It is applied lazily: the next product H v
// applies it in the same pass over the matrix (on the CPU), so that an iteration reads and writes
// H once instead of three times (p = -H g, h = H y and the update are each a pass over n^2
// doubles: 14 MB at n = 1341), and only its upper triangle (H is symmetric).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace pinn::train {

struct UpdateCoefficients {
  double scale = 1, ss = 0, sh = 0, hh = 0;
};

// What an update reads of the step: s = alpha p with p = -H g, y = g+ - g, h = H y.
struct Curvature {
  double step = 0;        // alpha
  double s_dot_g = 0;     // s . g (g at the start of the step)
  double y_dot_s = 0;     // y . s > 0
  double y_dot_h = 0;     // y . H y > 0
  int64_t dimension = 0;  // N, the number of parameters
};

// The Broyden-class parameter theta and the scale tau chosen for one update.
struct BroydenChoice {
  double theta = 0, tau = 1;
};

UpdateCoefficients bfgs_update(const Curvature& c);
// BFGS of H / tau, tau = min(1, 1/b), b = -alpha rho s.g.
UpdateCoefficients self_scaled_bfgs_update(const Curvature& c);
// The self-scaled Broyden update with its own theta and tau (ssbroyden_choice) or given ones.
BroydenChoice ssbroyden_choice(const Curvature& c);
UpdateCoefficients broyden_update(const Curvature& c, const BroydenChoice& choice);

class InverseHessian {
 public:
  InverseHessian(int64_t n, torch::Device device);

  int64_t size() const { return n_; }
  void reset();  // the identity, no pending update
  bool is_identity() const { return identity_; }

  // H v, with the pending update applied first (in the same pass on the CPU).
  std::vector<double> times(const std::vector<double>& v);
  // Records the update to apply before the next product.
  void defer(const UpdateCoefficients& update, const std::vector<double>& s,
             const std::vector<double>& h);
  // Applies the pending update now.
  void apply_pending();
  // H <- (H + H') / 2; returns whether H is then positive definite (a Cholesky factorization).
  bool symmetrize_and_check();

  // H with any pending update applied (a copy, on the CPU), and back.
  torch::Tensor matrix() const;

  // Its state including a pending update, exactly (for checkpoints).
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  void materialize();  // allocate the identity matrix when H is still implicit
  // CPU: one pass over the upper triangle applying the pending update and taking H v.
  std::vector<double> triangle_pass(const std::vector<double>& v);
  torch::Tensor full() const;

  int64_t n_;
  torch::Device device_;
  torch::Tensor h_;       // n x n float64 once materialized; on the CPU only j >= i is kept
  bool identity_ = true;  // H is the identity (h_ may be undefined)
  bool pending_ = false;
  UpdateCoefficients update_;
  std::vector<double> s_, hy_;  // the pending update's vectors
};

}  // namespace pinn::train
