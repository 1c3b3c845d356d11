// CUDA graphs for training steps. A PINN step on a GPU is a few hundred small kernels whose launch
// cost exceeds their arithmetic; captured once into a CUDA graph, the whole step (loss,
// derivatives, backward pass, and for Adam the update) is replayed with one launch. Capture needs
// static shapes and no host synchronisation inside the step: the training points stay in the
// same buffers (resampling copies into them), and a refinement that changes their number asks
// for a new capture (reset()).
//
// Built with a CUDA LibTorch (PINN_WITH_CUDA), the runner captures; otherwise, or on the CPU, it
// runs the work eagerly. A capture that fails (an operation that cannot be captured) is reported
// once and the work runs eagerly from then on: slower, never wrong.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace pinn::train {

class CudaGraphRunner {
 public:
  // Eager calls before the capture: the first calls allocate workspaces (cuBLAS, the autograd
  // engine's threads) that must not be allocated inside a capture. They run on the stream the
  // capture will use, as PyTorch's own recipe does, so that whatever they leave behind (the
  // parameters' gradient accumulators remember their stream) belongs to that stream.
  static constexpr int kWarmupCalls = 3;

  // `what` names the captured work in messages (e.g. "the Adam step").
  explicit CudaGraphRunner(std::string what);
  ~CudaGraphRunner();
  CudaGraphRunner(const CudaGraphRunner&) = delete;
  CudaGraphRunner& operator=(const CudaGraphRunner&) = delete;

  // Whether this build can capture CUDA graphs (it was built with a CUDA LibTorch).
  static bool supported();

  // Does `work` once: eagerly for the first kWarmupCalls calls (and always off CUDA, or after a
  // failed capture), then by replaying the graph captured from it. `work` must be the same
  // operations on the same tensors every call.
  void run(const std::function<void()>& work, const torch::Device& device);

  // Forgets the graph: the next calls warm up and capture again (the tensors changed shape).
  void reset();

  bool captured() const;

 private:
  struct Graph;
  bool capture(const std::function<void()>& work, const torch::Device& device);
  void warm_up(const std::function<void()>& work, const torch::Device& device);

  std::string what_;
  std::optional<c10::Stream> stream_;  // the side stream of warm-up and capture, once chosen
  int eager_calls_ = 0;
  bool failed_ = false;
  std::unique_ptr<Graph> graph_;
};

}  // namespace pinn::train
