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
  const bool can_capture = device.is_cuda() && supported() && !failed_;
  if (graph_ == nullptr) {
    if (!can_capture) {
      work();
      return;
    }
    if (eager_calls_ < kWarmupCalls || !capture(work, device)) {
      ++eager_calls_;
      warm_up(work, device);
      return;
    }
  }
#ifdef PINN_WITH_CUDA
  graph_->graph.replay();
#endif
}

#ifdef PINN_WITH_CUDA
namespace {

// The runner's side stream, chosen from LibTorch's pool on first use.
c10::cuda::CUDAStream side_stream(std::optional<c10::Stream>& chosen, const torch::Device& device) {
  if (!chosen) chosen = c10::cuda::getStreamFromPool(false, device.index()).unwrap();
  return c10::cuda::CUDAStream(c10::cuda::CUDAStream::UNCHECKED, *chosen);
}

// Runs `work` on `stream`, after everything queued so far on any stream of the device, and waits
// for it: the work around it runs on the caller's stream, in order with it.
void on_stream(const c10::cuda::CUDAStream& stream, const torch::Device& device,
               const std::function<void()>& work) {
  torch::cuda::synchronize(device.index());
  {
    const c10::cuda::CUDAStreamGuard guard(stream);
    work();
  }
  torch::cuda::synchronize(device.index());
}

}  // namespace

void CudaGraphRunner::warm_up(const std::function<void()>& work, const torch::Device& device) {
  on_stream(side_stream(stream_, device), device, work);
}

bool CudaGraphRunner::capture(const std::function<void()>& work, const torch::Device& device) {
  // Capture on the warm-up's side stream (the default stream cannot be captured); replays then
  // run on the caller's stream, in order with the eager work around them.
  auto graph = std::make_unique<Graph>();
  try {
    on_stream(side_stream(stream_, device), device, [&] {
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
    });
  } catch (const std::exception& error) {
    failed_ = true;
    spdlog::warn("cuda_graph: {} could not be captured ({}); running it without a graph", what_,
                 error.what());
    return false;
  }
  graph_ = std::move(graph);
  spdlog::debug("cuda_graph: captured {}", what_);
  return true;
}
#else
void CudaGraphRunner::warm_up(const std::function<void()>& work, const torch::Device&) {
  work();
}

bool CudaGraphRunner::capture(const std::function<void()>&, const torch::Device&) {
  return false;
}
#endif

}  // namespace pinn::train
