// The Taylor engine's plan: which channels to propagate through the network and, for each, its
// Faà di Bruno terms. For a multiset α of input indices, ∂_α σ(z) = Σ over set partitions π of α
// of σ^(|π|)(z) Π_{B∈π} z_B: a plan lists every multiset a requested channel contains (lower
// orders first) and each one's terms by order |π|. Summed Laplacians Σ_{i∈S} ∂_ii travel as
// channels of their own after the multisets', with the rule σ'' Σ_i z_i² + σ' z_S.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "derivatives/kernels/faa_di_bruno.hpp"
#include "expr/channel.hpp"

namespace pinn::derivatives::taylor {

using Multiset = std::vector<int>;  // sorted input indices

// One term of ∂_α σ(z) with |π| = order >= 2: coefficient * σ^(order)(z) * Π z_factor.
struct Term {
  double coefficient = 1.0;
  std::vector<size_t> factors;  // channel indices
};

struct Plan {
  std::vector<Multiset> multisets;  // index 0 is the value; sub-multisets before supersets
  std::map<Multiset, size_t> index;
  std::vector<std::vector<int>> laplacians;  // the summed Laplacians' input sets
  std::map<std::vector<int>, size_t> laplacian_index;
  // terms[c][m]: the terms of order m >= 2 of channel c (the order-1 term is z_c itself).
  std::vector<std::map<int, std::vector<Term>>> terms;
  int max_order = 0;

  size_t channels() const { return multisets.size() + laplacians.size(); }
  // The input i of channel c when it is ∂/∂x_i, else -1.
  int first_order_input(size_t c) const {
    return c < multisets.size() && multisets[c].size() == 1 ? multisets[c][0] : -1;
  }
  // Where `channel` sits among the plan's channels (0: the value).
  size_t position(const expr::Channel& channel) const;
  // The orders of σ the forward rules read: σ^(0)..σ^(max(max_order, 1)).
  int64_t orders() const { return std::max(max_order, 1) + 1; }
};

// A plan with its terms as a kernel program.
struct CompiledPlan {
  Plan plan;
  kernels::FaaDiBrunoProgram program;
};

// The key of the plan for `channels`: the multisets to propagate (each as its size, then its
// indices), then the summed Laplacians (each as minus its size, then its inputs). An autograd
// Function keeps it to find its plan again in the backward pass.
std::vector<int64_t> plan_key(const std::set<expr::Channel>& channels);

// The plan of a key, made once per key and kept (thread-safe).
const CompiledPlan& compiled_plan(const std::vector<int64_t>& key);

// The derivative of a term's product of factors with respect to its factor `f`: the multiplicity
// of f, and the product of the other factors (undefined when there are none). `factor(k)` gives
// channel k's tensor. Shared by both backward passes.
template <typename Tensor, typename Factor>
std::pair<double, Tensor> product_without(const Term& term, size_t f, const Factor& factor) {
  double multiplicity = 0;
  Tensor others;
  bool skipped = false;
  for (size_t k : term.factors) {
    if (k == f) {
      multiplicity += 1;
      if (!skipped) {
        skipped = true;
        continue;
      }
    }
    const Tensor value = factor(k);
    others = others.defined() ? others * value : value;
  }
  return {multiplicity, others};
}

}  // namespace pinn::derivatives::taylor
