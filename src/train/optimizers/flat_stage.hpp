// FlatStage: what the stages of L-BFGS and the dense quasi-Newton methods share. Their optimizers
// work on the trainables flattened into one float64 vector: whatever the network's dtype, their
// state and line search work in float64 and the network evaluates at the rounded point (SciPy's
// L-BFGS-B does the same for DeepXDE's float32 models).
#pragma once

#include <torch/torch.h>

#include <stdexcept>
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

  LossTransform objective_;
  bool graphed_;
  torch::Device device_;
  CudaGraphRunner runner_{"the loss and gradient"};
  torch::Tensor graphed_loss_;
  std::vector<torch::Tensor> parameters_;  // the network's (and the problem's) trainables
};

// A FlatStage that runs `Optimizer` (Lbfgs, QuasiNewton: each has iterate(count, objective),
// x(), status(), evaluations(), forget_objective(), forget_curvature(), save() and load()): the
// parts of the stage that pass on to the optimizer.
template <typename Optimizer>
class FlatOptimizerStage : public FlatStage {
 public:
  // `make(start, device)` makes the optimizer from the flattened trainables; `state_key` names its
  // state in a checkpoint.
  template <typename Make>
  FlatOptimizerStage(const std::string& name, const StageSpec& spec,
                     std::vector<torch::Tensor> parameters, std::string state_key, const Make& make)
      : FlatStage(name, spec.objective, spec.cuda_graph, std::move(parameters)),
        state_key_(std::move(state_key)),
        optimizer_(make(flatten(), device_)) {}

  int advance(int count, const LossAndGradient& closure) override {
    const int done =
        optimizer_.iterate(count, [&](const std::vector<double>& x, std::vector<double>& gradient) {
          return loss_and_gradient(x, gradient, closure);
        });
    // The line search's last evaluation need not be at the point it accepted.
    unflatten(optimizer_.x());
    return done;
  }

  // New points: the optimizer forgets what assumed the old objective (its values there; L-BFGS its
  // curvature history too, while the quasi-Newton methods keep H).
  void restart(bool new_shapes) override {
    optimizer_.forget_objective();
    forget_capture(new_shapes);
  }

  std::string roll_back(torch::serialize::InputArchive& snapshot) override {
    torch::serialize::InputArchive state;
    if (snapshot.try_read(state_key_, state)) {
      optimizer_.load(state);
      unflatten(optimizer_.x());
      optimizer_.forget_curvature();
    } else {
      restart_from_weights();  // a dense H is not kept for rollbacks (Trainer::take_snapshot)
    }
    forget_capture(false);
    return "curvature history restarted";
  }

  std::string stop_reason() const override {
    return optimizer_.status() == Optimizer::Status::stalled ? "stalled" : "converged";
  }

  int64_t evaluations() const override { return optimizer_.evaluations(); }

  void save(torch::serialize::OutputArchive& archive) const override {
    torch::serialize::OutputArchive state;
    optimizer_.save(state);
    archive.write(state_key_, state);
  }

  void load(torch::serialize::InputArchive& archive) override {
    torch::serialize::InputArchive state;
    if (!archive.try_read(state_key_, state)) {
      load_without_state();
      return;
    }
    optimizer_.load(state);
    unflatten(optimizer_.x());
  }

 protected:
  // A checkpoint of this stage that holds no state of the optimizer.
  virtual void load_without_state() {
    throw std::runtime_error("the checkpoint holds no '" + state_key_ + "' state of this stage");
  }
  // A fresh optimizer from the trainables as they are.
  virtual void restart_from_weights() = 0;

 private:
  std::string state_key_;

 protected:
  Optimizer optimizer_;
};

}  // namespace pinn::train
