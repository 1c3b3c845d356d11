// Capturing and replaying CUDA graphs (with a CUDA LibTorch), or running the work eagerly.
#include "train/cuda_graph.hpp"

#include <spdlog/spdlog.h>

#ifdef PINN_WITH_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace pinn::train {

#ifdef PINN_WITH_CUDA
struct CudaGraphRunner::Graph {
  at::cuda::CUDAGraph graph;
};
#else
struct CudaGraphRunner::Graph {};
#endif

CudaGraphRunner::CudaGraphRunner(std::string what) : what_(std::move(what)) {}

CudaGraphRunner::~CudaGraphRunner() = default;

bool CudaGraphRunner::supported() {
#ifdef PINN_WITH_CUDA
  return true;
#else
  return false;
#endif
}

bool CudaGraphRunner::captured() const {
  return graph_ != nullptr;
}

void CudaGraphRunner::reset() {
  graph_.reset();
  eager_calls_ = 0;
}

void CudaGraphRunner::run(const std::function<void()>& work, const torch::Device& device) {
  if (graph_ == nullptr) {
    const bool eager = !device.is_cuda() || !supported() || failed_ || eager_calls_ < kWarmupCalls;
    if (eager || !capture(work, device)) {
      ++eager_calls_;
      work();
      return;
    }
  }
#ifdef PINN_WITH_CUDA
  graph_->graph.replay();
#endif
}

#ifdef PINN_WITH_CUDA
bool CudaGraphRunner::capture(const std::function<void()>& work, const torch::Device& device) {
  // Capture on a side stream (the default stream cannot be captured), after everything queued
  // so far; replays then run on the caller's stream, in order with the eager work around them.
  torch::cuda::synchronize(device.index());
  auto graph = std::make_unique<Graph>();
  try {
    const c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromPool(false, device.index()));
    graph->graph.capture_begin();
    try {
      work();
    } catch (...) {
      try {
        graph->graph.capture_end();
      } catch (...) {
      }
      throw;
    }
    graph->graph.capture_end();
  } catch (const std::exception& error) {
    failed_ = true;
    spdlog::warn("cuda_graph: {} could not be captured ({}); running it without a graph", what_,
                 error.what());
    return false;
  }
  torch::cuda::synchronize(device.index());
  graph_ = std::move(graph);
  spdlog::debug("cuda_graph: captured {}", what_);
  return true;
}
#else
bool CudaGraphRunner::capture(const std::function<void()>&, const torch::Device&) {
  return false;
}
#endif

}  // namespace pinn::train
