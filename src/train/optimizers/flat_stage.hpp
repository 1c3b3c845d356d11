// FlatStage: what the stages of L-BFGS and the dense quasi-Newton methods share. Their optimizers
// work on the trainables flattened into one float64 vector: whatever the network's dtype, their
// state and line search work in float64 and the network evaluates at the rounded point (SciPy's
// L-BFGS-B does the same for DeepXDE's float32 models).
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "train/cuda_graph.hpp"
#include "train/stage.hpp"

namespace pinn::train {

// The flat stages' "line_search" key: "strong_wolfe" (the default) or "none" (fixed steps).
std::string read_line_search(config::Reader& reader, const std::string& fallback);
bool uses_line_search(const std::string& line_search);

class FlatStage : public Stage {
 public:
  FlatStage(const std::string& name, LossTransform objective, bool cuda_graph,
            std::vector<torch::Tensor> parameters);

  bool replays_cuda_graph() const override { return runner_.captured(); }

 protected:
  // New sizes need a new capture.
  void forget_capture(bool new_shapes);

  std::vector<double> flatten() const;
  // x into the trainables (rounded to their dtype, copied to their device).
  void unflatten(const std::vector<double>& x);

  // The stage's objective f(L) at x, replayed from a CUDA graph when asked (its loss and
  // gradients land in the tensors of the capture); its gradient gathered into `gradient` (zero
  // for unused trainables).
  double loss_and_gradient(const std::vector<double>& x, std::vector<double>& gradient,
                           const LossAndGradient& closure);

  // Up to `count` iterations of `optimizer` (Lbfgs, QuasiNewton) on the stage's objective; the
  // trainables are left at its iterate. Returns how many ran.
  template <typename Optimizer>
  int iterate(Optimizer& optimizer, int count, const LossAndGradient& closure) {
    const int done =
        optimizer.iterate(count, [&](const std::vector<double>& x, std::vector<double>& gradient) {
          return loss_and_gradient(x, gradient, closure);
        });
    // The line search's last evaluation need not be at the point it accepted.
    unflatten(optimizer.x());
    return done;
  }

  // A checkpoint's copy of the optimizer's state, under `key`.
  template <typename Optimizer>
  static void save_state(const Optimizer& optimizer, const std::string& key,
                         torch::serialize::OutputArchive& archive) {
    torch::serialize::OutputArchive state;
    optimizer.save(state);
    archive.write(key, state);
  }

  // The optimizer's state from under `key`, the trainables moved to its iterate; false (and
  // nothing changed) when the checkpoint holds none.
  template <typename Optimizer>
  bool load_state(Optimizer& optimizer, const std::string& key,
                  torch::serialize::InputArchive& archive) {
    torch::serialize::InputArchive state;
    if (!archive.try_read(key, state)) return false;
    optimizer.load(state);
    unflatten(optimizer.x());
    return true;
  }

  // Stage::stop_reason() of an optimizer that stopped early.
  template <typename Optimizer>
  static std::string stop_reason_of(const Optimizer& optimizer) {
    return optimizer.status() == Optimizer::Status::stalled ? "stalled" : "converged";
  }

  LossTransform objective_;
  bool graphed_;
  torch::Device device_;
  CudaGraphRunner runner_{"the loss and gradient"};
  torch::Tensor graphed_loss_;
  std::vector<torch::Tensor> parameters_;  // the network's (and the problem's) trainables
};

}  // namespace pinn::train
