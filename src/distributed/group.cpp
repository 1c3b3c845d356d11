// The process group: rendezvous, collectives, and what a failed collective says.
#include "distributed/group.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>
#include <vector>

#ifdef PINN_WITH_C10D
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef PINN_WITH_NCCL
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace pinn::distributed {

namespace {

using Clock = std::chrono::steady_clock;

// How long survivors of a failed collective wait for each other to check in at the store: the
// others learn of the failure when the first survivor closes its connections, within moments.
constexpr std::chrono::milliseconds kCheckInWindow{3000};

std::string alive_key(int rank) {
  return "pinn-train/alive-after-failure/" + std::to_string(rank);
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string text;
  for (size_t i = 0; i < ranks.size(); ++i)
    text += (i == 0 ? "" : i + 1 == ranks.size() ? " and " : ", ") + std::to_string(ranks[i]);
  return text;
}

}  // namespace

#ifdef PINN_WITH_C10D
struct Group::Backend {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef PINN_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
};
#else
struct Group::Backend {};
#endif

Group::Group() = default;
Group::~Group() = default;

bool Group::available() {
#ifdef PINN_WITH_C10D
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Group> Group::connect(const Launch& launch, const torch::Device& device,
                                      std::chrono::milliseconds timeout) {
  auto group = std::unique_ptr<Group>(new Group());
  group->rank_ = launch.rank;
  group->size_ = launch.world_size;
  group->address_ = launch.master_address + ":" + std::to_string(launch.master_port);
  group->timeout_ = timeout;
  if (launch.world_size == 1) return group;
#ifdef PINN_WITH_C10D
  group->backend_ = std::make_unique<Backend>();
  auto& backend = *group->backend_;
  const auto failed = [&](const std::exception& error) {
    const std::string what = error.what();
    return DistributedError(
        "rank " + std::to_string(launch.rank) + ": the rendezvous of " +
        std::to_string(launch.world_size) + " ranks at " + group->address_ + " (rank 0 hosts it; " +
        launch.launcher + " named it) did not complete within " +
        std::to_string(timeout.count() / 1000) + " s (" + what.substr(0, what.find('\n')) +
        "): every rank must start, with the same address and port; distributed.timeout_s sets "
        "how long to wait");
  };
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(launch.master_port);
    options.isServer = launch.rank == 0;
    options.numWorkers = launch.world_size;
    options.waitWorkers = true;
    options.timeout = timeout;
    backend.store = c10::make_intrusive<c10d::TCPStore>(launch.master_address, options);
    auto gloo = c10d::ProcessGroupGloo::Options::create();
    gloo->timeout = timeout;
    // On one machine, the loopback; across machines, the interface this host's name resolves to.
    const bool local = launch.master_address == "127.0.0.1" || launch.master_address == "localhost";
    gloo->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                  : c10d::ProcessGroupGloo::createDefaultDevice());
    backend.gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(backend.store, launch.rank,
                                                               launch.world_size, gloo);
#ifdef PINN_WITH_NCCL
    if (device.is_cuda()) {
      auto nccl = c10d::ProcessGroupNCCL::Options::create();
      nccl->timeout = timeout;
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("nccl", backend.store);
      backend.nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, launch.rank,
                                                                 launch.world_size, nccl);
    }
#endif
  } catch (const std::exception& error) {
    throw failed(error);
  }
#ifndef PINN_WITH_NCCL
  if (device.is_cuda()) {
    spdlog::warn(
        "this LibTorch has no NCCL: the ranks exchange through host memory with Gloo, more slowly");
  }
#endif
  return group;
#else
  (void)device;
  throw DistributedError(
      "the environment launches rank " + std::to_string(launch.rank) + " of " +
      std::to_string(launch.world_size) + " (" + launch.launcher +
      "), but this build of pinn-train has no c10d Gloo (install libgloo-dev and rebuild); run "
      "one process, or set \"distributed\": \"off\" to train each process alone");
#endif
}

Share share_of(int64_t count, int rank, int size) {
  Share share;
  share.count = count;
  if (size == 1) return share;
  if (count < size) {
    share.replicated = true;
    share.fraction = 1.0 / size;
    return share;
  }
  share.start = count * rank / size;
  share.count = count * (rank + 1) / size - share.start;
  share.fraction = static_cast<double>(share.count) / static_cast<double>(count);
  return share;
}

Share Group::share(int64_t count) const {
  return share_of(count, rank_, size_);
}

void Group::sum(torch::Tensor& tensor) {
  allreduce(tensor, Reduction::sum);
}

void Group::max(torch::Tensor& tensor) {
  allreduce(tensor, Reduction::max);
}

bool Group::any(bool value) {
  return max(static_cast<int64_t>(value)) != 0;
}

int64_t Group::max(int64_t value) {
  if (size_ == 1) return value;
  torch::Tensor tensor = torch::tensor({value}, torch::kLong);
  max(tensor);
  return tensor.item<int64_t>();
}

// Runs `collective` on `tensor`, or on a host copy of it when it lives on a GPU and the group
// has no NCCL; a failure becomes fail()'s error; the traffic is counted.
template <typename Collective>
void Group::exchange(const std::string& operation, torch::Tensor& tensor,
                     const Collective& collective) {
  const auto start = Clock::now();
  const bool on_host = !tensor.is_cuda() || !has_nccl();
  std::vector<at::Tensor> tensors{on_host ? tensor.cpu() : tensor};
  try {
    collective(tensors, on_host);
  } catch (const std::exception& error) {
    fail(operation, error.what());
  }
  if (tensor.is_cuda() && on_host) tensor.copy_(tensors[0]);
  traffic_.collectives += 1;
  traffic_.bytes += tensor.numel() * static_cast<int64_t>(tensor.element_size());
  traffic_.seconds += std::chrono::duration<double>(Clock::now() - start).count();
}

bool Group::has_nccl() const {
#ifdef PINN_WITH_NCCL
  return backend_ && backend_->nccl;
#else
  return false;
#endif
}

void Group::allreduce(torch::Tensor& tensor, Reduction reduction) {
  if (size_ == 1) return;
  TORCH_CHECK(tensor.is_contiguous(), "collectives take contiguous tensors");
#ifdef PINN_WITH_C10D
  c10d::AllreduceOptions options;
  options.reduceOp = reduction == Reduction::sum ? c10d::ReduceOp::SUM : c10d::ReduceOp::MAX;
  exchange("an all-reduce", tensor, [&](std::vector<at::Tensor>& tensors, bool on_host) {
#ifdef PINN_WITH_NCCL
    if (!on_host) return backend_->nccl->allreduce(tensors, options)->wait();
#endif
    (void)on_host;
    return backend_->gloo->allreduce(tensors, options)->wait();
  });
#else
  (void)reduction;
#endif
}

void Group::broadcast(torch::Tensor& tensor, int root) {
  if (size_ == 1) return;
#ifdef PINN_WITH_C10D
  c10d::BroadcastOptions options;
  options.rootRank = root;
  exchange("a broadcast", tensor, [&](std::vector<at::Tensor>& tensors, bool on_host) {
#ifdef PINN_WITH_NCCL
    if (!on_host) return backend_->nccl->broadcast(tensors, options)->wait();
#endif
    (void)on_host;
    return backend_->gloo->broadcast(tensors, options)->wait();
  });
#else
  (void)root;
#endif
}

void Group::fail(const std::string& operation, const std::string& what) {
  std::string message = "rank " + std::to_string(rank_) + " of " + std::to_string(size_) + ": " +
                        operation + " failed (" + what.substr(0, what.find('\n')) + "): ";
#ifdef PINN_WITH_C10D
  // Closing this rank's connections tells the survivors still waiting on it at once.
  backend_->gloo.reset();
#ifdef PINN_WITH_NCCL
  backend_->nccl.reset();
#endif
  std::vector<int> missing;
  try {
    backend_->store->setTimeout(kCheckInWindow);
    backend_->store->set(alive_key(rank_), std::vector<uint8_t>{1});
    const auto deadline = Clock::now() + std::min(kCheckInWindow, timeout_);
    do {
      missing.clear();
      for (int r = 0; r < size_; ++r) {
        if (!backend_->store->check({alive_key(r)})) missing.push_back(r);
      }
      if (missing.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (Clock::now() < deadline);
  } catch (const std::exception&) {
    throw DistributedError(message + "rank 0, which hosts the rendezvous at " + address_ +
                           ", is gone (it exited or was killed)");
  }
  if (missing.empty()) {
    message += "every rank is still there; a collective timed out or the network failed";
  } else {
    message += std::string(missing.size() == 1 ? "rank " : "ranks ") + rank_list(missing) +
               " did not answer: it exited, was killed or hung (distributed.timeout_s = " +
               std::to_string(timeout_.count() / 1000) + " s)";
  }
#endif
  throw DistributedError(message);
}

}  // namespace pinn::distributed
