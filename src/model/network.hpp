// Networks: u = net(x) for a batch of points, N x inputs -> N x outputs. A small factory keyed by
// the network's "type" reads its options from the config: "mlp" (fully connected),
// "modified_mlp" (the gated MLP of Wang, Teng & Perdikaris 2021), "resnet" (residual blocks) and
// "parallel" (one sub-network per output, model/parallel.hpp). Any type but parallel may map its
// inputs first: expressions of them ("features", model/features.hpp), periodic inputs as
// (cos, sin) pairs ("periodic", model/periodic.hpp), then random Fourier features
// ("fourier_features"; for an MLP also a list of them at several scales, combined as in Wang,
// Wang & Perdikaris 2021, see Mlp); and any type may factorize its weights ("rwf",
// model/dense.hpp).
//
// Every network is built from ordinary differentiable LibTorch ops (Linear, matmul, cat, sin,
// cos, the activations), so that nested autograd and forward-mode dual tensors differentiate it
// to any order with respect to its inputs.
//
// State-dict names (model.pt; scripts/predict.py rebuilds every type from them):
//   periodic.periods              each input's period, 0 if not periodic (when "periodic" is set)
//   fourier.B                     Fourier matrix, count x inputs (when "fourier_features" is set)
//   fourier0.B, fourier1.B, ...   the matrices of a list of Fourier embeddings (multi-scale MLP),
//                                 count x the inputs each embeds
//   parallel:     <output>.<the sub-network's names>, per output (e.g. u.layer0.weight)
//   mlp:          layer0 .. layerL               hidden layers, then the output layer
//   modified_mlp: encoder_u, encoder_v, layer0 .. layerL
//                 (layer0 gives H_1, layer1 .. layer(L-1) the gates, layerL the output)
//   resnet:       input, block0.layer0, block0.layer1, ..., output
// each Linear with .weight (out x in) and .bias, or with "rwf" .s (out), .v (out x in) and .bias.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/reader.hpp"
#include "model/activation.hpp"
#include "model/dense.hpp"
#include "model/features.hpp"
#include "model/periodic.hpp"
#include "model/structure.hpp"

namespace pinn::model {

// What every derivative engine differentiates. Subclasses register their parameters.
class Network : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& points) = 0;
  // The highest derivative order the network can represent without vanishing (relu: 1).
  virtual int smooth_orders() const = 0;
  // The network's operations, for the engines that propagate derivatives through them; empty for
  // an opaque function, which only the autograd and forward engines differentiate.
  virtual Structure structure() const { return {}; }
};

// Random Fourier features: x -> [cos(2π x Bᵀ), sin(2π x Bᵀ)], B (count x inputs) ~ N(0, scale²).
struct FourierOptions {
  int count = 64;
  double scale = 1.0;
  bool trainable = false;  // B is a parameter either way (so model.pt holds it); frozen if false
  std::vector<int64_t> columns;  // the input columns embedded (x above); empty: all of them
};

// How the branches of a multi-scale MLP meet before its output layer.
enum class BranchCombination {
  concatenate,  // MsFFN: [H_1, ..., H_K]
  product,  // STMsFFN: H_i ⊙ H_j ⊙ ... for one branch of each input group, all such products
};

// Options every network type shares.
struct NetworkOptions {
  int inputs = 1;
  int outputs = 1;
  std::string activation = "tanh";
  std::string output_activation = "identity";
  std::string init = "xavier_normal";     // xavier_normal, xavier_uniform, kaiming_*, normal, zeros
  double init_gain = 1.0;                 // gain (xavier) or std (normal)
  std::vector<expr::NodePtr> features;    // empty: the inputs themselves
  std::optional<FourierOptions> fourier;  // absent: the inputs go to the first layer as they are
  // Two or more embeddings: a multi-scale MLP (then `fourier` is absent).
  std::vector<FourierOptions> multiscale;
  BranchCombination combination = BranchCombination::concatenate;
  std::vector<double> periods;  // per input, its period or 0; empty: no periodic embedding
  std::optional<FactorizationOptions> factorization;  // "rwf": every layer's W = diag(exp(s)) V
};

struct MlpOptions : NetworkOptions {
  std::vector<int> hidden = {32, 32, 32};
};

// The same keys as the MLP; every hidden width must be equal and there must be at least two.
struct ModifiedMlpOptions : MlpOptions {};

struct ResNetOptions : NetworkOptions {
  int width = 32;  // the width of the lifting layer and of every block
  int blocks = 3;  // residual blocks of two Linear layers each
};

// The input embedding: a frozen (or trainable) random matrix B registered as the parameter "B".
class FourierFeatures : public torch::nn::Module {
 public:
  // `inputs`: the width of what it is given, of which it embeds options.columns (or all).
  FourierFeatures(int inputs, const FourierOptions& options);
  torch::Tensor forward(const torch::Tensor& points) const;
  const torch::Tensor& matrix() const { return matrix_; }
  int output_width() const { return 2 * options_.count; }
  // The columns embedded; empty: all.
  const std::vector<int64_t>& columns() const { return options_.columns; }

 private:
  FourierOptions options_;
  torch::Tensor matrix_;
};

// What the network types share: the activations, the optional embedding, the initialisation of
// every Linear layer they register.
class FeedForwardNetwork : public Network {
 public:
  int smooth_orders() const override;
  const NetworkOptions& common_options() const { return common_; }
  // The Fourier embedding, or null.
  const std::shared_ptr<FourierFeatures>& fourier() const { return fourier_; }
  // The periodic embedding, or null.
  const std::shared_ptr<PeriodicEmbedding>& periodic() const { return periodic_; }
  // The input features, or null.
  const std::shared_ptr<FeatureMap>& features() const { return features_; }

 protected:
  explicit FeedForwardNetwork(const NetworkOptions& options);
  // The width of what the first layers see: the inputs (or their features; the periodic ones as
  // pairs), or 2 * count Fourier features.
  int embedded_width() const;
  // The width before any Fourier embedding: the inputs, or their features or periodic embedding.
  int mapped_width() const;
  torch::Tensor embed(const torch::Tensor& points);
  // The inputs through the features and the periodic embedding (what a Fourier embedding reads).
  torch::Tensor map_inputs(const torch::Tensor& points);
  torch::Tensor hidden_activation(const torch::Tensor& x) const;
  torch::Tensor final_activation(const torch::Tensor& x) const;
  const Activation& activation() const { return *activation_; }
  const Activation& output_activation() const { return *output_activation_; }
  // A structure that starts with the embeddings, when there are any; returns the embedded slot.
  int embed_into(Structure& structure) const;
  // The same without the Fourier embedding; returns the mapped slot.
  int map_into(Structure& structure) const;
  // Registers a dense layer on `owner` (this network or a submodule of it) for initialize().
  Layer add_linear(torch::nn::Module& owner, const std::string& name, int in, int out);
  // Initialises every layer from add_linear with the configured scheme; biases to zero.
  void initialize();

 private:
  NetworkOptions common_;
  const Activation* activation_;  // resolved once, from common_'s names
  const Activation* output_activation_;
  std::shared_ptr<FeatureMap> features_;
  std::shared_ptr<PeriodicEmbedding> periodic_;
  std::shared_ptr<FourierFeatures> fourier_;
  std::vector<Layer> all_linears_;
};

// A fully connected network: Linear, activation, ..., Linear, output activation.
//
// With several Fourier embeddings ("multiscale", Wang, Wang & Perdikaris 2021, "On the
// eigenvector bias of Fourier feature networks", CMAME 384; DeepXDE's MsFFN and STMsFFN), each
// embedding φ_k = [cos(2π x_k B_kᵀ), sin(2π x_k B_kᵀ)] of its columns x_k passes through the
// same hidden layers (shared weights), giving H_k; the branches then meet before the output layer:
//   concatenate:  out = [H_1, ..., H_K] W + b                                   (MsFFN)
//   product:      the embeddings are grouped by the columns they read (space, time); for every
//                 choice of one branch per group, in order with the first group outermost, the
//                 elementwise product of their H; out = [those products] W + b  (STMsFFN)
// All embeddings have the same count (the first hidden layer is shared). DeepXDE's projection has
// no 2π: its σ is 2π times this scale.
class Mlp : public FeedForwardNetwork {
 public:
  explicit Mlp(const MlpOptions& options);
  torch::Tensor forward(const torch::Tensor& points) override;
  Structure structure() const override;
  const MlpOptions& options() const { return options_; }
  const std::vector<Layer>& layers() const { return layers_; }
  // The embeddings of a multi-scale MLP (empty otherwise).
  const std::vector<std::shared_ptr<FourierFeatures>>& scales() const { return scales_; }
  // The branches that meet at the output layer: indices into scales(), one list per product (a
  // single index when they are concatenated).
  const std::vector<std::vector<size_t>>& branch_products() const { return products_; }

 private:
  torch::Tensor multiscale_forward(const torch::Tensor& points);
  Structure multiscale_structure() const;

  MlpOptions options_;
  std::vector<Layer> layers_;
  std::vector<std::shared_ptr<FourierFeatures>> scales_;
  std::vector<std::vector<size_t>> products_;
};

// The modified MLP of Wang, Teng & Perdikaris (2021): with σ the activation and X the (embedded)
// inputs, U = σ(X W_u + b_u), V = σ(X W_v + b_v), H_1 = σ(X W_1 + b_1), then for each further
// hidden layer Z_k = σ(H_k W_k + b_k), H_{k+1} = (1 - Z_k) ⊙ U + Z_k ⊙ V; out = H W + b.
class ModifiedMlp : public FeedForwardNetwork {
 public:
  explicit ModifiedMlp(const ModifiedMlpOptions& options);
  torch::Tensor forward(const torch::Tensor& points) override;
  Structure structure() const override;
  const ModifiedMlpOptions& options() const { return options_; }
  const Layer& encoder_u() const { return encoder_u_; }
  const Layer& encoder_v() const { return encoder_v_; }
  // layer0 (H_1), the gate layers, and the output layer last.
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  ModifiedMlpOptions options_;
  Layer encoder_u_;
  Layer encoder_v_;
  std::vector<Layer> layers_;
};

// h = X W_in + b_in (no activation), then per block h <- h + σ(L2(σ(L1(h)))), out = L_out(h).
class ResNet : public FeedForwardNetwork {
 public:
  struct Block {
    Layer first;
    Layer second;
  };
  explicit ResNet(const ResNetOptions& options);
  torch::Tensor forward(const torch::Tensor& points) override;
  Structure structure() const override;
  const ResNetOptions& options() const { return options_; }
  const Layer& input_layer() const { return input_; }
  const std::vector<Block>& blocks() const { return blocks_; }
  const Layer& output_layer() const { return output_; }
  // One residual block applied to h (exposed for tests).
  torch::Tensor block_forward(size_t index, const torch::Tensor& h);

 private:
  ResNetOptions options_;
  Layer input_;
  std::vector<Block> blocks_;
  Layer output_;
};

std::vector<std::string> network_types();
std::vector<std::string> init_names();

// Builds the network described by the "network" object for the problem's inputs and outputs;
// "periodic", "fourier_features" and "networks" name them, "features" are expressions of the
// inputs and constants.
std::shared_ptr<Network> make_network(config::Reader& reader, const expr::Symbols& symbols);
// A sub-network of a parallel one (model/parallel): any type but parallel itself.
std::shared_ptr<Network> make_branch_network(config::Reader& reader, const expr::Symbols& symbols);
// The same as make_network for `inputs` inputs named x0, x1, ... and `outputs` outputs named u0,
// u1, ...
std::shared_ptr<Network> make_network(config::Reader& reader, int inputs, int outputs,
                                      const std::vector<std::string>& input_names = {});

// Number of scalar trainable parameters (a frozen Fourier matrix is not counted).
int64_t parameter_count(const torch::nn::Module& module);

}  // namespace pinn::model
