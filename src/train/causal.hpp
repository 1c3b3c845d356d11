// The arithmetic of causal training (problem::CausalWeighting): the chunks of a term's points,
// ordered by time, and the weights of the chunks. Shared by the objective's tensor path and its
// fused loss, so that both weight the same chunks the same way.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace pinn::train {

// Where each of `chunks` chunks of `count` ordered points ends: chunk k is [ends[k-1], ends[k]),
// of ⌊(k+1)·count/chunks⌋ - ⌊k·count/chunks⌋ points (equal counts, to one point).
std::vector<int64_t> chunk_ends(int64_t count, int chunks);

// w_k = exp(-epsilon Σ_{j<k} L_j) for the chunks' mean squares L.
std::vector<double> causal_weights(const std::vector<double>& chunk_means, double epsilon);

// Each chunk's mean of r² (differentiable), r of shape N in the points' order; an empty chunk's
// mean is 0.
torch::Tensor chunk_mean_squares(const torch::Tensor& residual, const std::vector<int64_t>& ends);

}  // namespace pinn::train
