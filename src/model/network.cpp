// The network types (MLP, modified MLP, ResNet), the Fourier embedding and the factory.
#include "model/network.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "model/activation.hpp"
#include "model/parallel.hpp"
#include "util/memory.hpp"
#include "util/registry.hpp"
#include "util/suggest.hpp"

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

// One Fourier embedding: its count, scale, trainability and the inputs it embeds (by name; all
// when absent). Inputs replaced by features or a periodic embedding have no names left to give.
FourierOptions read_fourier(config::Reader& fourier, const std::vector<std::string>& inputs,
                            bool inputs_mapped) {
  FourierOptions options;
  options.count = fourier.positive_int("count", options.count);
  options.scale = fourier.positive("scale", options.scale);
  options.trainable = fourier.get_or("trainable", options.trainable);
  fourier.describe("inputs", "the inputs this embedding reads (default: all), e.g. [\"t\"]");
  if (fourier.has("inputs")) {
    if (inputs_mapped) {
      fourier.fail("inputs",
                   "an embedding reads the features (or the periodic embedding) when there are "
                   "any, which have no input names; leave 'inputs' out");
    }
    const auto names = fourier.get<std::vector<std::string>>("inputs");
    if (names.empty()) fourier.fail("inputs", "expected at least one input name, found []");
    for (const auto& name : names) {
      const auto found = std::find(inputs.begin(), inputs.end(), name);
      if (found == inputs.end()) {
        fourier.fail("inputs", "'" + name + "' is not an input" + did_you_mean(name, inputs));
      }
      const auto column = static_cast<int64_t>(found - inputs.begin());
      if (std::count(options.columns.begin(), options.columns.end(), column) != 0) {
        fourier.fail("inputs", "'" + name + "' is named twice");
      }
      options.columns.push_back(column);
    }
  } else {
    fourier.accept("inputs");
  }
  fourier.finish();
  return options;
}

// "fourier_features": one embedding (an object, or a list of one), or a multi-scale list of them
// with "fourier_combine".
void read_fourier_features(config::Reader& reader, NetworkOptions& options,
                           const std::vector<std::string>& inputs) {
  reader.describe("fourier_features",
                  "random Fourier features [cos(2πxBᵀ), sin(2πxBᵀ)], B ~ N(0, scale²): one "
                  "{count, scale, trainable, inputs}, or (mlp) a list of them at several scales");
  reader.describe("fourier_combine",
                  "how the branches of a list of Fourier embeddings meet before the output layer: "
                  "concatenate (MsFFN) or product (STMsFFN: one branch per input group, "
                  "multiplied)");
  const bool mapped = !options.features.empty() || !options.periods.empty();
  std::vector<FourierOptions> embeddings;
  if (reader.has("fourier_features") && reader.json("fourier_features").is_array()) {
    for (auto& fourier : reader.objects("fourier_features"))
      embeddings.push_back(read_fourier(fourier, inputs, mapped));
    if (embeddings.empty()) {
      reader.fail("fourier_features", "expected at least one embedding, found []");
    }
  } else if (reader.has("fourier_features")) {
    config::Reader fourier = reader.object("fourier_features");
    embeddings.push_back(read_fourier(fourier, inputs, mapped));
  } else {
    reader.accept("fourier_features");
  }
  // Read only when written, so that a network without a list records no default for it.
  std::string combine = "concatenate";
  if (reader.has("fourier_combine")) {
    combine = reader.choice("fourier_combine", {"concatenate", "product"}, combine);
    if (embeddings.size() < 2) {
      spdlog::warn("{}: fourier_combine has no effect without a list of two or more embeddings",
                   reader.where("fourier_combine"));
    }
  } else {
    reader.accept("fourier_combine");
  }
  if (embeddings.size() < 2) {
    if (!embeddings.empty()) options.fourier = embeddings.front();
    return;
  }
  for (size_t k = 1; k < embeddings.size(); ++k) {
    if (embeddings[k].count != embeddings[0].count) {
      reader.fail("fourier_features",
                  "every embedding of a list needs the same count (they share the first hidden "
                  "layer), found " +
                      std::to_string(embeddings[0].count) + " and " +
                      std::to_string(embeddings[k].count));
    }
  }
  std::set<std::vector<int64_t>> groups;
  for (const auto& embedding : embeddings)
    groups.insert(embedding.columns);
  if (combine == "product" && groups.size() < 2) {
    reader.fail("fourier_combine",
                "product multiplies branches of different input groups (e.g. embeddings with "
                "\"inputs\": [\"x\"] and with [\"t\"]), but every embedding reads the same inputs");
  }
  options.multiscale = embeddings;
  options.combination =
      combine == "product" ? BranchCombination::product : BranchCombination::concatenate;
}

// The keys every type reads: activations, initialisation, the input features, the optional
// embeddings and the factorization.
void read_common(config::Reader& reader, NetworkOptions& options, const expr::Symbols& symbols) {
  options.inputs = static_cast<int>(symbols.inputs.size());
  options.outputs = static_cast<int>(symbols.outputs.size());
  options.activation = reader.choice("activation", activation_names(), options.activation);
  options.output_activation =
      reader.choice("output_activation", activation_names(), options.output_activation);
  options.init = reader.choice("init", init_names(), options.init);
  options.init_gain = reader.positive("init_gain", options.init_gain);
  options.features = read_features(reader, symbols);
  options.periods = read_periods(reader, symbols.inputs);
  if (!options.features.empty() && !options.periods.empty()) {
    reader.fail("periodic",
                "features replace the inputs that 'periodic' names: write the periodic "
                "embedding as features instead, e.g. \"cos(2*pi*x/P)\", \"sin(2*pi*x/P)\"");
  }
  read_fourier_features(reader, options, symbols.inputs);
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

// The width the first layer sees: the inputs or their features, or their periodic and Fourier
// embeddings.
double embedded_inputs(const NetworkOptions& options) {
  if (options.fourier) return 2.0 * options.fourier->count;
  if (!options.multiscale.empty()) return 2.0 * options.multiscale.front().count;
  if (!options.features.empty()) return static_cast<double>(options.features.size());
  double width = 0;
  for (size_t i = 0; i < static_cast<size_t>(options.inputs); ++i)
    width += i < options.periods.size() && options.periods[i] > 0 ? 2 : 1;
  return width;
}

// A list of Fourier embeddings is an MLP's (Mlp): other types refuse it.
void refuse_multiscale(config::Reader& reader, const NetworkOptions& options,
                       const std::string& type) {
  if (options.multiscale.empty()) return;
  reader.fail("fourier_features", type +
                                      " takes one Fourier embedding; a list of them (multi-scale) "
                                      "needs type mlp");
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

std::shared_ptr<Network> make_mlp(config::Reader& reader, const expr::Symbols& symbols) {
  MlpOptions options;
  options.hidden = read_hidden(reader, options.hidden);
  read_common(reader, options, symbols);
  std::vector<double> widths = layer_widths(options, options.hidden);
  // Every branch of a multi-scale MLP feeds the output layer.
  if (!options.multiscale.empty()) widths[widths.size() - 2] *= options.multiscale.size();
  check_network_memory(reader, "hidden", widths, 0);
  return std::make_shared<Mlp>(options);
}

std::shared_ptr<Network> make_modified_mlp(config::Reader& reader, const expr::Symbols& symbols) {
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
  read_common(reader, options, symbols);
  refuse_multiscale(reader, options, "modified_mlp");
  // The gates U and V: two more first layers.
  const double gates = 2 * (embedded_inputs(options) + 1) * options.hidden.front();
  check_network_memory(reader, "hidden", layer_widths(options, options.hidden), gates);
  return std::make_shared<ModifiedMlp>(options);
}

std::shared_ptr<Network> make_resnet(config::Reader& reader, const expr::Symbols& symbols) {
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
  read_common(reader, options, symbols);
  refuse_multiscale(reader, options, "resnet");
  // Two layers per block.
  std::vector<int> hidden(2 * static_cast<size_t>(options.blocks) + 1, options.width);
  check_network_memory(reader, "width", layer_widths(options, hidden), 0);
  return std::make_shared<ResNet>(options);
}

using NetworkFactory =
    std::function<std::shared_ptr<Network>(config::Reader&, const expr::Symbols&)>;

const Registry<NetworkFactory>& factories() {
  static const Registry<NetworkFactory> table("network type", {{"mlp", make_mlp},
                                                               {"modified_mlp", make_modified_mlp},
                                                               {"parallel", make_parallel},
                                                               {"resnet", make_resnet}});
  return table;
}

}  // namespace

// ---- Fourier features ----

FourierFeatures::FourierFeatures(int inputs, const FourierOptions& options) : options_(options) {
  const int64_t embedded =
      options_.columns.empty() ? inputs : static_cast<int64_t>(options_.columns.size());
  matrix_ = register_parameter("B", torch::randn({options_.count, embedded}) * options_.scale,
                               options_.trainable);
}

torch::Tensor FourierFeatures::forward(const torch::Tensor& points) const {
  const torch::Tensor x =
      options_.columns.empty()
          ? points
          : points.index_select(1, torch::tensor(options_.columns).to(points.device()));
  const auto projection = (2.0 * M_PI) * torch::matmul(x, matrix_.t());
  return torch::cat({torch::cos(projection), torch::sin(projection)}, 1);
}

// ---- shared machinery ----

FeedForwardNetwork::FeedForwardNetwork(const NetworkOptions& options)
    : common_(options),
      activation_(&model::activation(options.activation)),
      output_activation_(&model::activation(options.output_activation)) {
  if (!common_.features.empty()) {
    features_ = register_module("features", std::make_shared<FeatureMap>(common_.features));
  }
  if (!common_.periods.empty()) {
    periodic_ = register_module("periodic", std::make_shared<PeriodicEmbedding>(common_.periods));
  }
  if (common_.fourier) {
    fourier_ = register_module("fourier",
                               std::make_shared<FourierFeatures>(mapped_width(), *common_.fourier));
  }
}

int FeedForwardNetwork::mapped_width() const {
  if (features_) return static_cast<int>(features_->output_width());
  return periodic_ ? static_cast<int>(periodic_->output_width()) : common_.inputs;
}

int FeedForwardNetwork::embedded_width() const {
  if (fourier_) return fourier_->output_width();
  if (!common_.multiscale.empty()) return 2 * common_.multiscale.front().count;
  return mapped_width();
}

torch::Tensor FeedForwardNetwork::map_inputs(const torch::Tensor& points) {
  if (features_) return features_->forward(points);
  return periodic_ ? periodic_->forward(points) : points;
}

torch::Tensor FeedForwardNetwork::embed(const torch::Tensor& points) {
  const torch::Tensor x = map_inputs(points);
  return fourier_ ? fourier_->forward(x) : x;
}

torch::Tensor FeedForwardNetwork::hidden_activation(const torch::Tensor& x) const {
  return activation_->apply(x);
}

torch::Tensor FeedForwardNetwork::final_activation(const torch::Tensor& x) const {
  return output_activation_->apply(x);
}

int FeedForwardNetwork::map_into(Structure& structure) const {
  int slot = Structure::kInput;
  if (features_) slot = structure.features(slot, *features_);
  if (periodic_) slot = structure.periodic(slot, *periodic_);
  return slot;
}

int FeedForwardNetwork::embed_into(Structure& structure) const {
  const int slot = map_into(structure);
  return fourier_ ? structure.fourier(slot, *fourier_) : slot;
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

namespace {

// The branches that meet at a multi-scale MLP's output layer (Mlp): each alone, or one of each
// group of embeddings that read the same columns, in every combination (the first group
// outermost).
std::vector<std::vector<size_t>> combined_branches(const std::vector<FourierOptions>& scales,
                                                   BranchCombination combination) {
  std::vector<std::vector<size_t>> products;
  if (combination == BranchCombination::concatenate) {
    for (size_t k = 0; k < scales.size(); ++k)
      products.push_back({k});
    return products;
  }
  std::vector<std::vector<size_t>> groups;
  std::vector<std::vector<int64_t>> group_columns;
  for (size_t k = 0; k < scales.size(); ++k) {
    const auto found = std::find(group_columns.begin(), group_columns.end(), scales[k].columns);
    if (found == group_columns.end()) {
      group_columns.push_back(scales[k].columns);
      groups.push_back({k});
    } else {
      groups[static_cast<size_t>(found - group_columns.begin())].push_back(k);
    }
  }
  products = {{}};
  for (const auto& group : groups) {
    std::vector<std::vector<size_t>> longer;
    for (const auto& product : products) {
      for (size_t k : group) {
        longer.push_back(product);
        longer.back().push_back(k);
      }
    }
    products = std::move(longer);
  }
  return products;
}

}  // namespace

Mlp::Mlp(const MlpOptions& options) : FeedForwardNetwork(options), options_(options) {
  for (size_t k = 0; k < options_.multiscale.size(); ++k) {
    scales_.push_back(
        register_module("fourier" + std::to_string(k),
                        std::make_shared<FourierFeatures>(mapped_width(), options_.multiscale[k])));
  }
  if (!scales_.empty()) products_ = combined_branches(options_.multiscale, options_.combination);
  int width = embedded_width();
  std::vector<int> widths = options_.hidden;
  widths.push_back(options_.outputs);
  for (size_t i = 0; i < widths.size(); ++i) {
    // The output layer of a multi-scale MLP reads every branch (or product of branches).
    const bool output = i + 1 == widths.size();
    const int in =
        output && !products_.empty() ? width * static_cast<int>(products_.size()) : width;
    layers_.push_back(add_linear(*this, "layer" + std::to_string(i), in, widths[i]));
    width = widths[i];
  }
  initialize();
}

torch::Tensor Mlp::multiscale_forward(const torch::Tensor& points) {
  const torch::Tensor x = map_inputs(points);
  std::vector<torch::Tensor> branches;
  for (const auto& scale : scales_) {
    torch::Tensor h = scale->forward(x);
    for (size_t i = 0; i + 1 < layers_.size(); ++i)
      h = hidden_activation(layers_[i]->forward(h));
    branches.push_back(h);
  }
  std::vector<torch::Tensor> parts;
  for (const auto& product : products_) {
    torch::Tensor part = branches[product.front()];
    for (size_t j = 1; j < product.size(); ++j)
      part = part * branches[product[j]];
    parts.push_back(part);
  }
  return final_activation(layers_.back()->forward(torch::cat(parts, 1)));
}

Structure Mlp::multiscale_structure() const {
  Structure s;
  const int x = map_into(s);
  std::vector<int> branches;
  for (const auto& scale : scales_) {
    int h = s.fourier(x, *scale);
    for (size_t i = 0; i + 1 < layers_.size(); ++i)
      h = s.activate(s.linear(h, *layers_[i]), activation());
    branches.push_back(h);
  }
  std::vector<int> parts;
  for (const auto& product : products_) {
    int part = branches[product.front()];
    for (size_t j = 1; j < product.size(); ++j)
      part = s.combine(Operation::Kind::multiply, part, branches[product[j]]);
    parts.push_back(part);
  }
  s.activate(s.linear(s.concatenate(parts), *layers_.back()), output_activation());
  return s;
}

torch::Tensor Mlp::forward(const torch::Tensor& points) {
  if (!scales_.empty()) return multiscale_forward(points);
  torch::Tensor h = embed(points);
  for (size_t i = 0; i + 1 < layers_.size(); ++i)
    h = hidden_activation(layers_[i]->forward(h));
  return final_activation(layers_.back()->forward(h));
}

Structure Mlp::structure() const {
  if (!scales_.empty()) return multiscale_structure();
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

namespace {

std::shared_ptr<Network> make_typed(config::Reader& reader, const expr::Symbols& symbols,
                                    const std::vector<std::string>& types) {
  reader.describe("type", "the network's architecture");
  const std::string type = reader.choice("type", types, "mlp");
  auto network = factories().make(type, reader.where("type"), reader, symbols);
  reader.finish();
  return network;
}

}  // namespace

std::shared_ptr<Network> make_network(config::Reader& reader, const expr::Symbols& symbols) {
  return make_typed(reader, symbols, network_types());
}

std::shared_ptr<Network> make_branch_network(config::Reader& reader, const expr::Symbols& symbols) {
  std::vector<std::string> types = network_types();
  types.erase(std::remove(types.begin(), types.end(), "parallel"), types.end());
  return make_typed(reader, symbols, types);
}

std::shared_ptr<Network> make_network(config::Reader& reader, int inputs, int outputs,
                                      const std::vector<std::string>& input_names) {
  expr::Symbols symbols;
  symbols.inputs = input_names;
  for (int i = static_cast<int>(symbols.inputs.size()); i < inputs; ++i)
    symbols.inputs.push_back("x" + std::to_string(i));
  for (int o = 0; o < outputs; ++o)
    symbols.outputs.push_back("u" + std::to_string(o));
  return make_network(reader, symbols);
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const auto& parameter : module.parameters()) {
    if (parameter.requires_grad()) count += parameter.numel();
  }
  return count;
}

}  // namespace pinn::model
