// The MLP and the network factory.
#include "model/network.hpp"

#include <functional>
#include <map>

#include "model/activation.hpp"

namespace pinn::model {

namespace {

using InitFunction = std::function<void(torch::Tensor&, double)>;

const std::map<std::string, InitFunction>& initializers() {
  static const std::map<std::string, InitFunction> table = {
      {"xavier_normal",
       [](torch::Tensor& w, double gain) { torch::nn::init::xavier_normal_(w, gain); }},
      {"xavier_uniform",
       [](torch::Tensor& w, double gain) { torch::nn::init::xavier_uniform_(w, gain); }},
      {"kaiming_normal", [](torch::Tensor& w, double) { torch::nn::init::kaiming_normal_(w); }},
      {"kaiming_uniform", [](torch::Tensor& w, double) { torch::nn::init::kaiming_uniform_(w); }},
      {"normal", [](torch::Tensor& w, double std) { torch::nn::init::normal_(w, 0.0, std); }},
      {"zeros", [](torch::Tensor& w, double) { torch::nn::init::zeros_(w); }},
  };
  return table;
}

std::shared_ptr<Network> make_mlp(config::Reader& reader, int inputs, int outputs) {
  MlpOptions options;
  options.inputs = inputs;
  options.outputs = outputs;
  options.hidden = reader.get_or("hidden", options.hidden);
  for (int width : options.hidden) {
    if (width <= 0) reader.fail("hidden", "expected positive layer widths");
  }
  options.activation = reader.choice("activation", activation_names(), options.activation);
  options.output_activation =
      reader.choice("output_activation", activation_names(), options.output_activation);
  options.init = reader.choice("init", init_names(), options.init);
  options.init_gain = reader.positive("init_gain", options.init_gain);
  return std::make_shared<Mlp>(options);
}

using NetworkFactory = std::function<std::shared_ptr<Network>(config::Reader&, int, int)>;

const std::map<std::string, NetworkFactory>& factories() {
  static const std::map<std::string, NetworkFactory> table = {{"mlp", make_mlp}};
  return table;
}

}  // namespace

Mlp::Mlp(const MlpOptions& options) : options_(options) {
  int width = options_.inputs;
  std::vector<int> widths = options_.hidden;
  widths.push_back(options_.outputs);
  for (size_t i = 0; i < widths.size(); ++i) {
    layers_.push_back(
        register_module("layer" + std::to_string(i),
                        torch::nn::Linear(torch::nn::LinearOptions(width, widths[i]))));
    width = widths[i];
  }
  initialize();
}

void Mlp::initialize() {
  torch::NoGradGuard no_grad;
  const auto& init = initializers().at(options_.init);
  for (auto& layer : layers_) {
    init(layer->weight, options_.init_gain);
    layer->bias.zero_();
  }
}

torch::Tensor Mlp::forward(const torch::Tensor& points) {
  const auto hidden_activation = activation(options_.activation).apply;
  torch::Tensor h = points;
  for (size_t i = 0; i + 1 < layers_.size(); ++i)
    h = hidden_activation(layers_[i]->forward(h));
  return activation(options_.output_activation).apply(layers_.back()->forward(h));
}

int Mlp::smooth_orders() const {
  return std::min(activation(options_.activation).smooth_orders,
                  activation(options_.output_activation).smooth_orders);
}

std::vector<std::string> network_types() {
  std::vector<std::string> names;
  for (const auto& entry : factories())
    names.push_back(entry.first);
  return names;
}

std::vector<std::string> init_names() {
  std::vector<std::string> names;
  for (const auto& entry : initializers())
    names.push_back(entry.first);
  return names;
}

std::shared_ptr<Network> make_network(config::Reader& reader, int inputs, int outputs) {
  const std::string type = reader.choice("type", network_types(), "mlp");
  auto network = factories().at(type)(reader, inputs, outputs);
  reader.finish();
  return network;
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters())
    count += parameter.numel();
  return count;
}

}  // namespace pinn::model
