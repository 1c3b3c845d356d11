// Networks: u = net(x) for a batch of points, N x inputs -> N x outputs. A small factory keyed by
// the network's "type" reads its options from the config; the MLP is the first type.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "config/reader.hpp"

namespace pinn::model {

// What every derivative engine differentiates. Subclasses register their parameters.
class Network : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& points) = 0;
  // The highest derivative order the network can represent without vanishing (relu: 1).
  virtual int smooth_orders() const = 0;
};

struct MlpOptions {
  int inputs = 1;
  int outputs = 1;
  std::vector<int> hidden = {32, 32, 32};
  std::string activation = "tanh";
  std::string output_activation = "identity";
  std::string init = "xavier_normal";  // xavier_normal, xavier_uniform, kaiming_*, normal, zeros
  double init_gain = 1.0;              // gain (xavier) or std (normal)
};

// A fully connected network: Linear, activation, ..., Linear, output activation.
class Mlp : public Network {
 public:
  explicit Mlp(const MlpOptions& options);
  torch::Tensor forward(const torch::Tensor& points) override;
  int smooth_orders() const override;
  const MlpOptions& options() const { return options_; }
  const std::vector<torch::nn::Linear>& layers() const { return layers_; }

 private:
  void initialize();
  MlpOptions options_;
  std::vector<torch::nn::Linear> layers_;
};

std::vector<std::string> network_types();
std::vector<std::string> init_names();

// Builds the network described by the "network" object for the given input and output counts.
std::shared_ptr<Network> make_network(config::Reader& reader, int inputs, int outputs);

// Total number of scalar parameters.
int64_t parameter_count(const torch::nn::Module& module);

}  // namespace pinn::model
