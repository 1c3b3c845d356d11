// The network types (MLP, modified MLP, ResNet), the Fourier embedding and the factory.
#include "model/network.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <sstream>

#include "model/activation.hpp"
#include "util/memory.hpp"
#include "util/registry.hpp"

namespace pinn::model {

namespace {

using InitFunction = std::function<void(torch::Tensor&, double)>;

const Registry<InitFunction>& initializers() {
  static const Registry<InitFunction> table{
      "init",
      {
          {"xavier_normal",
           [](torch::Tensor& w, double gain) { torch::nn::init::xavier_normal_(w, gain); }},
          {"xavier_uniform",
           [](torch::Tensor& w, double gain) { torch::nn::init::xavier_uniform_(w, gain); }},
          {"kaiming_normal", [](torch::Tensor& w, double) { torch::nn::init::kaiming_normal_(w); }},
          {"kaiming_uniform",
           [](torch::Tensor& w, double) { torch::nn::init::kaiming_uniform_(w); }},
          {"normal", [](torch::Tensor& w, double std) { torch::nn::init::normal_(w, 0.0, std); }},
          {"zeros", [](torch::Tensor& w, double) { torch::nn::init::zeros_(w); }},
      }};
  return table;
}

// "periodic": {"x": 2.0} as one period per input (0: not periodic).
std::vector<double> read_periods(config::Reader& reader, const std::vector<std::string>& inputs) {
  reader.describe("periodic",
                  "inputs made exactly periodic by embedding each as (cos(2πx/P), sin(2πx/P)), "
                  "with its period P, e.g. {\"x\": 2.0}");
  if (!reader.has("periodic")) {
    reader.accept("periodic");
    return {};
  }
  config::Reader periodic = reader.object("periodic");
  std::vector<double> periods(inputs.size(), 0.0);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!periodic.has(inputs[i])) continue;
    periods[i] = periodic.get<double>(inputs[i]);
    if (!(periods[i] > 0 && std::isfinite(periods[i]))) {
      periodic.fail(inputs[i], "expected a positive period, found " + std::to_string(periods[i]));
    }
  }
  periodic.finish();  // a key that is no input: "unknown key", with a "did you mean"
  if (std::all_of(periods.begin(), periods.end(), [](double p) { return p == 0; })) {
    reader.fail("periodic", "expected at least one input and its period, e.g. {\"x\": 2.0}");
  }
  return periods;
}

std::optional<FactorizationOptions> read_factorization(config::Reader& reader) {
  reader.describe("rwf",
                  "random weight factorization: every layer's W = diag(exp(s)) V, s ~ N(mean, "
                  "std²) per output, V = diag(exp(-s)) W₀ (Wang et al. 2022)");
  if (!reader.has("rwf")) {
    reader.accept("rwf");
    return std::nullopt;
  }
  config::Reader rwf = reader.object("rwf");
  FactorizationOptions options;
  options.mean = rwf.get_or("mean", options.mean);
  options.std = rwf.get_or("std", options.std);
  if (!(options.std >= 0)) rwf.fail("std", "expected a standard deviation >= 0");
  rwf.finish();
  return options;
}

// The keys every type reads: activations, initialisation, the optional embeddings and the
// factorization.
void read_common(config::Reader& reader, NetworkOptions& options, int inputs, int outputs,
                 const std::vector<std::string>& input_names) {
  options.inputs = inputs;
  options.outputs = outputs;
  options.activation = reader.choice("activation", activation_names(), options.activation);
  options.output_activation =
      reader.choice("output_activation", activation_names(), options.output_activation);
  options.init = reader.choice("init", init_names(), options.init);
  options.init_gain = reader.positive("init_gain", options.init_gain);
  if (reader.has("fourier_features")) {
    config::Reader fourier = reader.object("fourier_features");
    FourierOptions fourier_options;
    fourier_options.count = fourier.positive_int("count", fourier_options.count);
    fourier_options.scale = fourier.positive("scale", fourier_options.scale);
    fourier_options.trainable = fourier.get_or("trainable", fourier_options.trainable);
    fourier.finish();
    options.fourier = fourier_options;
  } else {
    reader.accept("fourier_features");
  }
  options.periods = read_periods(reader, input_names);
  options.factorization = read_factorization(reader);
}

// Deeper networks than this train no better and would only take long to build and run.
constexpr size_t kMaxLayers = 1000;

std::vector<int> read_hidden(config::Reader& reader, const std::vector<int>& fallback) {
  std::vector<int> hidden = reader.get_or("hidden", fallback);
  for (int width : hidden) {
    if (width <= 0) reader.fail("hidden", "expected positive layer widths");
  }
  if (hidden.size() > kMaxLayers) {
    reader.fail("hidden", "expected at most " + std::to_string(kMaxLayers) +
                              " hidden layers, found " + std::to_string(hidden.size()));
  }
  return hidden;
}

// The width the first layer sees: the inputs, or their periodic and Fourier embeddings.
double embedded_inputs(const NetworkOptions& options) {
  if (options.fourier) return 2.0 * options.fourier->count;
  double width = 0;
  for (size_t i = 0; i < static_cast<size_t>(options.inputs); ++i)
    width += i < options.periods.size() && options.periods[i] > 0 ? 2 : 1;
  return width;
}

// A network whose weights could never fit is refused before any is allocated. Training holds
// at least four copies of every weight: itself, its gradient and Adam's two moments.
void check_network_memory(config::Reader& reader, const std::string& key,
                          const std::vector<double>& widths, double extra_parameters) {
  double parameters = extra_parameters;
  for (size_t i = 0; i + 1 < widths.size(); ++i)
    parameters += (widths[i] + 1) * widths[i + 1];
  std::ostringstream what;
  what << "a network of " << std::setprecision(4) << parameters
       << " weights (with gradients and optimizer state)";
  util::check_fits_in_memory(4 * sizeof(double) * parameters, what.str(), reader.where(key));
}

// Input, hidden and output widths of a feed-forward network.
std::vector<double> layer_widths(const NetworkOptions& options, const std::vector<int>& hidden) {
  std::vector<double> widths{embedded_inputs(options)};
  widths.insert(widths.end(), hidden.begin(), hidden.end());
  widths.push_back(options.outputs);
  return widths;
}

std::shared_ptr<Network> make_mlp(config::Reader& reader, int inputs, int outputs,
                                  const std::vector<std::string>& names) {
  MlpOptions options;
  options.hidden = read_hidden(reader, options.hidden);
  read_common(reader, options, inputs, outputs, names);
  check_network_memory(reader, "hidden", layer_widths(options, options.hidden), 0);
  return std::make_shared<Mlp>(options);
}

std::shared_ptr<Network> make_modified_mlp(config::Reader& reader, int inputs, int outputs,
                                           const std::vector<std::string>& names) {
  ModifiedMlpOptions options;
  options.hidden = read_hidden(reader, options.hidden);
  if (options.hidden.size() < 2) {
    reader.fail("hidden",
                "modified_mlp needs at least two hidden layers (the first gives H_1, each "
                "further one a gate), found " +
                    reader.json("hidden").dump());
  }
  for (int width : options.hidden) {
    if (width != options.hidden.front()) {
      reader.fail("hidden",
                  "modified_mlp needs equal hidden widths (its gates mix U and V of one width), "
                  "found " +
                      reader.json("hidden").dump());
    }
  }
  read_common(reader, options, inputs, outputs, names);
  // The gates U and V: two more first layers.
  const double gates = 2 * (embedded_inputs(options) + 1) * options.hidden.front();
  check_network_memory(reader, "hidden", layer_widths(options, options.hidden), gates);
  return std::make_shared<ModifiedMlp>(options);
}

std::shared_ptr<Network> make_resnet(config::Reader& reader, int inputs, int outputs,
                                     const std::vector<std::string>& names) {
  if (reader.has("hidden")) {
    reader.fail("hidden", "resnet takes 'width' (of every block) and 'blocks', not 'hidden'");
  }
  ResNetOptions options;
  options.width = reader.positive_int("width", options.width);
  options.blocks = reader.positive_int("blocks", options.blocks);
  if (static_cast<size_t>(options.blocks) > kMaxLayers) {
    reader.fail("blocks", "expected at most " + std::to_string(kMaxLayers) + " blocks, found " +
                              std::to_string(options.blocks));
  }
  read_common(reader, options, inputs, outputs, names);
  // Two layers per block.
  std::vector<int> hidden(2 * static_cast<size_t>(options.blocks) + 1, options.width);
  check_network_memory(reader, "width", layer_widths(options, hidden), 0);
  return std::make_shared<ResNet>(options);
}

using NetworkFactory = std::function<std::shared_ptr<Network>(config::Reader&, int, int,
                                                              const std::vector<std::string>&)>;

const Registry<NetworkFactory>& factories() {
  static const Registry<NetworkFactory> table(
      "network type",
      {{"mlp", make_mlp}, {"modified_mlp", make_modified_mlp}, {"resnet", make_resnet}});
  return table;
}

}  // namespace

// ---- Fourier features ----

FourierFeatures::FourierFeatures(int inputs, const FourierOptions& options) : options_(options) {
  matrix_ = register_parameter("B", torch::randn({options_.count, inputs}) * options_.scale,
                               options_.trainable);
}

torch::Tensor FourierFeatures::forward(const torch::Tensor& points) const {
  const auto projection = (2.0 * M_PI) * torch::matmul(points, matrix_.t());
  return torch::cat({torch::cos(projection), torch::sin(projection)}, 1);
}

// ---- shared machinery ----

FeedForwardNetwork::FeedForwardNetwork(const NetworkOptions& options)
    : common_(options),
      activation_(&model::activation(options.activation)),
      output_activation_(&model::activation(options.output_activation)) {
  int width = common_.inputs;
  if (!common_.periods.empty()) {
    periodic_ = register_module("periodic", std::make_shared<PeriodicEmbedding>(common_.periods));
    width = static_cast<int>(periodic_->output_width());
  }
  if (common_.fourier) {
    fourier_ =
        register_module("fourier", std::make_shared<FourierFeatures>(width, *common_.fourier));
  }
}

int FeedForwardNetwork::embedded_width() const {
  if (fourier_) return fourier_->output_width();
  return periodic_ ? static_cast<int>(periodic_->output_width()) : common_.inputs;
}

torch::Tensor FeedForwardNetwork::embed(const torch::Tensor& points) {
  const torch::Tensor x = periodic_ ? periodic_->forward(points) : points;
  return fourier_ ? fourier_->forward(x) : x;
}

torch::Tensor FeedForwardNetwork::hidden_activation(const torch::Tensor& x) const {
  return activation_->apply(x);
}

torch::Tensor FeedForwardNetwork::final_activation(const torch::Tensor& x) const {
  return output_activation_->apply(x);
}

int FeedForwardNetwork::embed_into(Structure& structure) const {
  int slot = Structure::kInput;
  if (periodic_) slot = structure.periodic(slot, *periodic_);
  if (fourier_) slot = structure.fourier(slot, *fourier_);
  return slot;
}

Layer FeedForwardNetwork::add_linear(torch::nn::Module& owner, const std::string& name, int in,
                                     int out) {
  auto layer = owner.register_module(name, std::make_shared<Dense>(in, out, common_.factorization));
  all_linears_.push_back(layer);
  return layer;
}

void FeedForwardNetwork::initialize() {
  const auto& init = initializers().get(common_.init);
  for (auto& layer : all_linears_)
    layer->initialize(init, common_.init_gain);
}

int FeedForwardNetwork::smooth_orders() const {
  return std::min(activation_->smooth_orders, output_activation_->smooth_orders);
}

// ---- MLP ----

Mlp::Mlp(const MlpOptions& options) : FeedForwardNetwork(options), options_(options) {
  int width = embedded_width();
  std::vector<int> widths = options_.hidden;
  widths.push_back(options_.outputs);
  for (size_t i = 0; i < widths.size(); ++i) {
    layers_.push_back(add_linear(*this, "layer" + std::to_string(i), width, widths[i]));
    width = widths[i];
  }
  initialize();
}

torch::Tensor Mlp::forward(const torch::Tensor& points) {
  torch::Tensor h = embed(points);
  for (size_t i = 0; i + 1 < layers_.size(); ++i)
    h = hidden_activation(layers_[i]->forward(h));
  return final_activation(layers_.back()->forward(h));
}

Structure Mlp::structure() const {
  Structure s;
  int h = embed_into(s);
  for (size_t i = 0; i + 1 < layers_.size(); ++i)
    h = s.activate(s.linear(h, *layers_[i]), activation());
  s.activate(s.linear(h, *layers_.back()), output_activation());
  return s;
}

// ---- modified MLP ----

ModifiedMlp::ModifiedMlp(const ModifiedMlpOptions& options)
    : FeedForwardNetwork(options), options_(options) {
  const int in = embedded_width();
  const int width = options_.hidden.front();
  encoder_u_ = add_linear(*this, "encoder_u", in, width);
  encoder_v_ = add_linear(*this, "encoder_v", in, width);
  int previous = in;
  for (size_t i = 0; i < options_.hidden.size(); ++i) {
    layers_.push_back(add_linear(*this, "layer" + std::to_string(i), previous, width));
    previous = width;
  }
  layers_.push_back(
      add_linear(*this, "layer" + std::to_string(options_.hidden.size()), width, options_.outputs));
  initialize();
}

torch::Tensor ModifiedMlp::forward(const torch::Tensor& points) {
  const torch::Tensor x = embed(points);
  const torch::Tensor u = hidden_activation(encoder_u_->forward(x));
  const torch::Tensor v = hidden_activation(encoder_v_->forward(x));
  torch::Tensor h = hidden_activation(layers_.front()->forward(x));
  for (size_t k = 1; k + 1 < layers_.size(); ++k) {
    const torch::Tensor z = hidden_activation(layers_[k]->forward(h));
    h = (1.0 - z) * u + z * v;
  }
  return final_activation(layers_.back()->forward(h));
}

// H_{k+1} = (1 - Z_k) U + Z_k V, taken as U + Z_k (V - U): one product per gate.
Structure ModifiedMlp::structure() const {
  using Kind = Operation::Kind;
  Structure s;
  const int x = embed_into(s);
  const int u = s.activate(s.linear(x, *encoder_u_), activation());
  const int v = s.activate(s.linear(x, *encoder_v_), activation());
  const int v_minus_u = s.combine(Kind::subtract, v, u);
  int h = s.activate(s.linear(x, *layers_.front()), activation());
  for (size_t k = 1; k + 1 < layers_.size(); ++k) {
    const int z = s.activate(s.linear(h, *layers_[k]), activation());
    h = s.combine(Kind::add, u, s.combine(Kind::multiply, z, v_minus_u));
  }
  s.activate(s.linear(h, *layers_.back()), output_activation());
  return s;
}

// ---- ResNet ----

ResNet::ResNet(const ResNetOptions& options) : FeedForwardNetwork(options), options_(options) {
  input_ = add_linear(*this, "input", embedded_width(), options_.width);
  for (int b = 0; b < options_.blocks; ++b) {
    auto block =
        register_module("block" + std::to_string(b), std::make_shared<torch::nn::Module>());
    Block layers;
    layers.first = add_linear(*block, "layer0", options_.width, options_.width);
    layers.second = add_linear(*block, "layer1", options_.width, options_.width);
    blocks_.push_back(layers);
  }
  output_ = add_linear(*this, "output", options_.width, options_.outputs);
  initialize();
}

torch::Tensor ResNet::block_forward(size_t index, const torch::Tensor& h) {
  Block& block = blocks_.at(index);
  return h + hidden_activation(block.second->forward(hidden_activation(block.first->forward(h))));
}

torch::Tensor ResNet::forward(const torch::Tensor& points) {
  torch::Tensor h = input_->forward(embed(points));
  for (size_t b = 0; b < blocks_.size(); ++b)
    h = block_forward(b, h);
  return final_activation(output_->forward(h));
}

Structure ResNet::structure() const {
  Structure s;
  int h = s.linear(embed_into(s), *input_);
  for (const auto& block : blocks_) {
    const int inner = s.activate(s.linear(h, *block.first), activation());
    h = s.combine(Operation::Kind::add, h,
                  s.activate(s.linear(inner, *block.second), activation()));
  }
  s.activate(s.linear(h, *output_), output_activation());
  return s;
}

// ---- factory ----

std::vector<std::string> network_types() {
  return factories().names();
}

std::vector<std::string> init_names() {
  return initializers().names();
}

std::shared_ptr<Network> make_network(config::Reader& reader, int inputs, int outputs,
                                      const std::vector<std::string>& input_names) {
  std::vector<std::string> names = input_names;
  for (int i = static_cast<int>(names.size()); i < inputs; ++i)
    names.push_back("x" + std::to_string(i));
  reader.describe("type", "the network's architecture");
  const std::string type = reader.choice("type", network_types(), "mlp");
  auto network = factories().make(type, reader.where("type"), reader, inputs, outputs, names);
  reader.finish();
  return network;
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters()) {
    if (parameter.requires_grad()) count += parameter.numel();
  }
  return count;
}

}  // namespace pinn::model
