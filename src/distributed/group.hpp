// The processes of one run and what they exchange: a c10d process group (Gloo for tensors on the
// CPU, NCCL for CUDA ones where LibTorch ships it) behind a rendezvous on rank 0's TCPStore. A
// group of one process (the default) has no process group at all: every collective returns its
// input, so single-process runs take the same code paths at no cost.
//
// A collective that fails (a rank died: its connection was reset; a rank hung: no answer within
// the timeout) throws a DistributedError that names the ranks that did not answer afterwards
// (each survivor checks in at the store for a few seconds).
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "distributed/launch.hpp"

namespace pinn::distributed {

class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A rank's contiguous share of a set of `count` rows: rows [start, start + count) of it. Shares
// differ in size by at most one row. A set with fewer rows than ranks is not split: every rank
// holds all of it (`replicated`) and counts for 1/size of it.
struct Share {
  int64_t start = 0;
  int64_t count = 0;
  bool replicated = false;
  // What this rank's mean over its rows weighs in the mean over the whole set.
  double fraction = 1;
};

// Rank `rank` of `size`'s share of `count` rows.
Share share_of(int64_t count, int rank, int size);

// What the collectives cost, for the summary and the benchmark.
struct Traffic {
  int64_t collectives = 0;
  int64_t bytes = 0;  // payload of this rank's collectives
  double seconds = 0;
};

class Group {
 public:
  // A group of one process.
  Group();
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  // Meets the other ranks at launch's address (rank 0 hosts the store) and makes the process
  // group for tensors on `device`. A DistributedError names the address and port when the
  // rendezvous does not complete within `timeout`; the same timeout ends a collective that a rank
  // does not join.
  static std::unique_ptr<Group> connect(const Launch& launch, const torch::Device& device,
                                        std::chrono::milliseconds timeout);
  // Whether this build can connect at all (c10d's Gloo headers were found).
  static bool available();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }

  Share share(int64_t count) const;

  // In place, across ranks: the sum (of a contiguous tensor: one collective) or the largest value.
  void sum(torch::Tensor& tensor);
  void max(torch::Tensor& tensor);
  // Rank `root`'s values into `tensor` on every rank.
  void broadcast(torch::Tensor& tensor, int root = 0);
  // Whether any rank passed true.
  bool any(bool value);
  // The largest of the ranks' values.
  int64_t max(int64_t value);

  const Traffic& traffic() const { return traffic_; }

  // A debugging aid: every `steps` steps the trainer compares a checksum of the weights across
  // the ranks (0: never).
  void check_weights_every(int steps) { check_every_ = steps; }
  int check_every() const { return check_every_; }

 private:
  struct Backend;
  enum class Reduction { sum, max };
  void allreduce(torch::Tensor& tensor, Reduction reduction);
  template <typename Collective>
  void exchange(const std::string& operation, torch::Tensor& tensor, const Collective& collective);
  bool has_nccl() const;
  // The error for a collective that failed with `what`: which ranks are gone.
  [[noreturn]] void fail(const std::string& operation, const std::string& what);

  int rank_ = 0;
  int size_ = 1;
  std::string address_;
  std::chrono::milliseconds timeout_{0};
  std::unique_ptr<Backend> backend_;
  Traffic traffic_;
  int check_every_ = 0;
};

}  // namespace pinn::distributed
