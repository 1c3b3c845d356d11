// Plans: the closure of the requested multisets, their set partitions, and the plan cache.
#include "derivatives/taylor/plan.hpp"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>

namespace pinn::derivatives::taylor {

namespace {

void add_closure(const Multiset& alpha, std::set<Multiset>& closure) {
  if (!closure.insert(alpha).second) return;
  for (size_t i = 0; i < alpha.size(); ++i) {
    if (i > 0 && alpha[i] == alpha[i - 1]) continue;
    Multiset smaller = alpha;
    smaller.erase(smaller.begin() + static_cast<std::ptrdiff_t>(i));
    add_closure(smaller, closure);
  }
}

// Calls `visit` with every set partition of {0..k-1} as block labels (a restricted growth string).
template <typename Visit>
void for_each_partition(size_t k, Visit visit) {
  std::vector<int> labels(k, 0);
  std::function<void(size_t, int)> recurse = [&](size_t position, int blocks) {
    if (position == k) {
      visit(labels, blocks);
      return;
    }
    for (int b = 0; b <= blocks; ++b) {
      labels[position] = b;
      recurse(position + 1, std::max(blocks, b + 1));
    }
  };
  recurse(0, 0);
}

// The multisets to propagate: every requested one and all it contains, lower orders first.
std::vector<Multiset> closure_of(const std::set<expr::Channel>& channels) {
  std::set<Multiset> closure = {{}};
  for (const auto& channel : channels) {
    add_closure(channel.wrt, closure);
    for (int i : channel.laplacian)
      add_closure({i}, closure);
  }
  std::vector<Multiset> ordered(closure.begin(), closure.end());
  std::stable_sort(ordered.begin(), ordered.end(), [](const Multiset& a, const Multiset& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return ordered;
}

// The summed Laplacians among `channels`, each input set once.
std::vector<std::vector<int>> laplacians_of(const std::set<expr::Channel>& channels) {
  std::set<std::vector<int>> sets;
  for (const auto& channel : channels) {
    if (!channel.laplacian.empty()) sets.insert(channel.laplacian);
  }
  return {sets.begin(), sets.end()};
}

// The terms of order >= 2 of ∂_α σ: one per set partition of α into two or more blocks, equal
// ones counted together.
std::map<int, std::vector<Term>> partition_terms(const Multiset& alpha,
                                                 const std::map<Multiset, size_t>& index) {
  std::map<std::pair<int, std::vector<size_t>>, double> counts;
  for_each_partition(alpha.size(), [&](const std::vector<int>& labels, int blocks) {
    if (blocks < 2) return;
    std::vector<Multiset> parts(static_cast<size_t>(blocks));
    for (size_t p = 0; p < labels.size(); ++p)
      parts[static_cast<size_t>(labels[p])].push_back(alpha[p]);  // stays sorted
    std::vector<size_t> factors;
    for (const auto& part : parts)
      factors.push_back(index.at(part));
    std::sort(factors.begin(), factors.end());
    counts[{blocks, factors}] += 1.0;
  });
  std::map<int, std::vector<Term>> terms;
  for (const auto& [key, count] : counts)
    terms[key.first].push_back(Term{count, key.second});
  return terms;
}

Plan make_plan(const std::set<expr::Channel>& channels) {
  Plan plan;
  plan.multisets = closure_of(channels);
  for (size_t c = 0; c < plan.multisets.size(); ++c) {
    plan.index[plan.multisets[c]] = c;
    plan.max_order = std::max(plan.max_order, static_cast<int>(plan.multisets[c].size()));
  }
  plan.terms.resize(plan.multisets.size());
  for (size_t c = 1; c < plan.multisets.size(); ++c)
    plan.terms[c] = partition_terms(plan.multisets[c], plan.index);
  plan.laplacians = laplacians_of(channels);
  plan.terms.resize(plan.channels());
  for (size_t k = 0; k < plan.laplacians.size(); ++k) {
    const size_t c = plan.multisets.size() + k;
    plan.laplacian_index[plan.laplacians[k]] = c;
    plan.max_order = std::max(plan.max_order, 2);
    for (int i : plan.laplacians[k]) {
      const size_t first = plan.index.at({i});
      plan.terms[c][2].push_back(Term{1.0, {first, first}});
    }
  }
  return plan;
}

std::set<expr::Channel> channels_of_key(const std::vector<int64_t>& key) {
  std::set<expr::Channel> channels;
  for (size_t i = 0; i < key.size();) {
    const bool laplacian = key[i] < 0;
    const auto size = static_cast<size_t>(std::abs(key[i++]));
    expr::Channel channel;
    for (size_t k = 0; k < size; ++k)
      (laplacian ? channel.laplacian : channel.wrt).push_back(static_cast<int>(key[i++]));
    channels.insert(channel);
  }
  return channels;
}

kernels::FaaDiBrunoProgram program_of(const Plan& plan) {
  kernels::FaaDiBrunoProgram program;
  program.channels = static_cast<int64_t>(plan.channels());
  for (size_t c = 1; c < plan.terms.size(); ++c) {
    for (const auto& [order, terms] : plan.terms[c]) {
      for (const Term& term : terms) {
        program.terms.push_back({static_cast<int64_t>(c), order, term.coefficient,
                                 std::vector<int64_t>(term.factors.begin(), term.factors.end())});
      }
    }
  }
  return program;
}

}  // namespace

size_t Plan::position(const expr::Channel& channel) const {
  if (channel.order() == 0) return 0;
  return channel.laplacian.empty() ? index.at(channel.wrt) : laplacian_index.at(channel.laplacian);
}

std::vector<int64_t> plan_key(const std::set<expr::Channel>& channels) {
  std::vector<int64_t> key;
  for (const auto& multiset : closure_of(channels)) {
    key.push_back(static_cast<int64_t>(multiset.size()));
    key.insert(key.end(), multiset.begin(), multiset.end());
  }
  for (const auto& inputs : laplacians_of(channels)) {
    key.push_back(-static_cast<int64_t>(inputs.size()));
    key.insert(key.end(), inputs.begin(), inputs.end());
  }
  return key;
}

const CompiledPlan& compiled_plan(const std::vector<int64_t>& key) {
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, std::unique_ptr<CompiledPlan>> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  auto& entry = cache[key];
  if (!entry) {
    entry = std::make_unique<CompiledPlan>();
    entry->plan = make_plan(channels_of_key(key));
    entry->program = program_of(entry->plan);
  }
  return *entry;
}

}  // namespace pinn::derivatives::taylor
