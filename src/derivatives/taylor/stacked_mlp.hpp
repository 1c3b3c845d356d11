// The Taylor engine's MLP passes. Every layer's channels form one C x N x width tensor: a Linear
// layer is one matmul on it (the bias on the value only), an activation one fused Faà di Bruno
// pass (kernels/faa_di_bruno). The first layer sees the points and the unit vectors e_i as input
// channels; with input features or an embedding, it sees their channels instead, made by ordinary
// autograd ops (a trainable embedding gets its gradient through the gradient of the pass's
// input). A factorized layer's W = diag(exp(s)) V is formed once per pass and enters as W: its
// gradient reaches s and V through autograd, or through Dense::take_gradient where the fused loss
// writes gradients directly. For training the network runs as one custom autograd Function whose
// backward pass is written by hand, layer by layer in reverse:
//   through σ, the adjoint of Faà di Bruno (H_c = Σ_m σ^(m)(Z_0) S_{c,m}(Z), S_{c,1} = Z_c):
//     dZ_0 = G_0 σ' + Σ_c G_c Σ_m σ^(m+1) S_{c,m},  dZ_f = Σ_c G_c Σ_m σ^(m) ∂S_{c,m}/∂Z_f;
//   through a Linear layer, two matmuls on the stacked channels: dW = dZᵀ A, dA = dZ W, and
//   db from the value channel only.
// σ's derivatives are recomputed in the backward pass from the saved H_0 (tanh, sigmoid: they
// are polynomials of σ) or Z_0, rather than saved: memory is the scarcer resource at scale.
// It supports first-order backward only. On a CPU with the kernels the whole network can instead
// run as the tiled pass (kernels/tiled_pass.hpp), one cache-sized tile of points at a time.
#pragma once

#include <torch/torch.h>

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "derivatives/engine.hpp"
#include "derivatives/kernels/tiled_pass.hpp"
#include "model/structure.hpp"

namespace pinn::derivatives::taylor {

// How the MLP passes run, decided once for the network's device and dtype and this CPU.
enum class MlpKernels {
  tensor_ops,  // LibTorch calls per product term (any device)
  cpu_loops,   // the fused Faà di Bruno loops per layer (a CPU with them)
  tiled,       // the tiled pass over the whole network (a CPU with them, float32 or float64, and
               // activations the pass evaluates: tiles::supports_activation)
};

// An MLP (a chain structure) as the passes take it.
struct MlpLayers {
  std::vector<const model::Dense*> linears;
  std::vector<const model::Activation*> activations;  // one per layer; identity where none
  const model::FeatureMap* features = nullptr;
  const model::PeriodicEmbedding* periodic = nullptr;
  const model::FourierFeatures* fourier = nullptr;
  // Whether the first layer sees embedded channels rather than the points.
  bool embedded() const { return features != nullptr || periodic != nullptr || fourier != nullptr; }
};

// The layers of a chain structure (model::Structure::is_chain).
MlpLayers mlp_layers(const model::Structure& chain);

// The fastest kernels that run `layers` on tensors with `options`.
MlpKernels mlp_kernels_for(const MlpLayers& layers, const torch::TensorOptions& options);

// `channels` of the MLP at `points`.
ChannelMap propagate_mlp(const MlpLayers& layers, MlpKernels kernels, const torch::Tensor& points,
                         const std::set<expr::Channel>& channels, bool create_graph);

// The tiled pass set up to propagate `channels` of an MLP that runs tiled, for the fused loss.
struct TiledSetup {
  tiles::Network network;
  torch::Tensor input;                      // the points, or their embedded channels
  std::vector<torch::Tensor> parameters;    // W (as formed now) and b of every layer, in order
  std::vector<const model::Dense*> layers;  // which take the gradients of W and b
  // Where each channel lands among the pass's outputs: its stacked index, and the output.
  std::map<expr::Channel, std::pair<int64_t, int64_t>> slots;
};
TiledSetup tiled_setup(const MlpLayers& layers, const torch::Tensor& points,
                       const std::set<expr::Channel>& channels);

}  // namespace pinn::derivatives::taylor
