// Unit tests of the Taylor-mode engine: against the autograd engine (float64, to 1e-10) on values,
// every derivative channel (orders 1-4, mixed partials, 1 to 10 inputs) and the weight gradients
// of a loss built from them, for every activation, random MLPs and Fourier embeddings; and the
// forward-engine fallback on networks it does not propagate.
#include <gtest/gtest.h>
#include "support.hpp"

#include <cctype>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <random>

#include "derivatives/autograd_engine.hpp"
#include "derivatives/engine.hpp"
#include "derivatives/kernels/faa_di_bruno.hpp"
#include "derivatives/kernels/tiled_pass.hpp"
#include "derivatives/taylor/taylor_engine.hpp"
#include "derivatives/transform_jets.hpp"
#include "model/activation.hpp"
#include "model/network.hpp"
#include "model/transform.hpp"
#include "util/errors.hpp"

namespace pinn::derivatives {
namespace {

using testing_support::all_channels;
using testing_support::small_modified_mlp;
using testing_support::small_resnet;

using expr::Channel;

double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs() / (1 + b.abs())).max().item<double>();
}

// `count` random channels of orders 1..max_order (mixed partials included), first order complete.
std::set<Channel> some_channels(int outputs, int inputs, int max_order, int count,
                                std::mt19937& random) {
  std::set<Channel> channels;
  for (int o = 0; o < outputs; ++o) {
    for (int i = 0; i < inputs; ++i)
      channels.insert({o, {i}});
  }
  std::uniform_int_distribution<int> output(0, outputs - 1), input(0, inputs - 1),
      order(2, max_order);
  for (int k = 0; k < count; ++k) {
    Channel channel{output(random), {}};
    const int n = k < max_order - 1 ? k + 2 : order(random);  // every order at least once
    for (int j = 0; j < n; ++j)
      channel = expr::differentiate(channel, input(random));
    channels.insert(channel);
  }
  return channels;
}

std::vector<torch::Tensor> trainable(model::Network& network) {
  std::vector<torch::Tensor> parameters;
  for (const auto& parameter : network.parameters()) {
    if (parameter.requires_grad()) parameters.push_back(parameter);
  }
  return parameters;
}

// The gradients of Σ_c w_c mean(channel_c²) for the trainable parameters, undefined as zero.
std::vector<torch::Tensor> loss_gradients(model::Network& network, const ChannelMap& values,
                                          const std::set<Channel>& channels) {
  torch::Tensor loss = torch::zeros({}, torch::kFloat64);
  double weight = 0.3;
  for (const auto& channel : channels) {
    weight = std::fmod(weight * 7.13 + 0.37, 1.0);  // fixed pseudo-random weights
    loss = loss + weight * values.at(channel).square().mean();
  }
  const auto parameters = trainable(network);
  auto grads = torch::autograd::grad({loss}, parameters, {}, true, false, true);
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) grads[i] = torch::zeros_like(parameters[i]);
  }
  return grads;
}

// Taylor equals autograd on every requested channel and on the loss gradients.
void expect_agreement(model::Network& network, const torch::Tensor& points,
                      const std::set<Channel>& channels, const std::string& label) {
  const auto expected = make_engine("autograd", network)->compute(points, channels, true);
  const auto actual = make_engine("taylor", network)->compute(points, channels, true);
  for (const auto& channel : channels) {
    ASSERT_TRUE(actual.count(channel)) << label;
    EXPECT_LT(max_relative_difference(actual.at(channel), expected.at(channel)), 1e-10)
        << label << " output " << channel.output << " order " << channel.order();
  }
  const auto expected_grads = loss_gradients(network, expected, channels);
  const auto actual_grads = loss_gradients(network, actual, channels);
  ASSERT_EQ(expected_grads.size(), actual_grads.size());
  for (size_t i = 0; i < expected_grads.size(); ++i) {
    EXPECT_LT(max_relative_difference(actual_grads[i], expected_grads[i]), 1e-10)
        << label << " parameter " << i;
  }
}

std::shared_ptr<model::Mlp> random_mlp(int inputs, int outputs, const std::string& activation,
                                       const std::string& output_activation, std::mt19937& random) {
  model::MlpOptions options;
  options.inputs = inputs;
  options.outputs = outputs;
  std::uniform_int_distribution<int> depth(2, 3), width(3, 9);
  options.hidden.assign(static_cast<size_t>(depth(random)), 0);
  for (int& w : options.hidden)
    w = width(random);
  options.activation = activation;
  options.output_activation = output_activation;
  auto network = std::make_shared<model::Mlp>(options);
  network->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;  // non-zero biases, so that every term of the rules is exercised
    for (const auto& layer : network->layers())
      layer->bias().normal_(0.0, 0.3);
  }
  return network;
}

// An MLP with the given shape (Xavier weights, zero biases), in float64 unless told otherwise.
std::shared_ptr<model::Mlp> make_mlp(int inputs, int outputs, std::vector<int> hidden,
                                     std::optional<model::FourierOptions> fourier = std::nullopt,
                                     torch::Dtype dtype = torch::kFloat64) {
  model::MlpOptions options;
  options.inputs = inputs;
  options.outputs = outputs;
  options.hidden = std::move(hidden);
  options.fourier = fourier;
  auto network = std::make_shared<model::Mlp>(options);
  network->to(dtype);
  return network;
}

class TaylorActivation : public ::testing::TestWithParam<std::string> {};

TEST_P(TaylorActivation, EqualsAutogradOnRandomMlps) {
  const std::string activation = GetParam();
  for (int inputs : {1, 2, 3, 5, 10}) {
    std::mt19937 random(static_cast<unsigned>(17 + inputs));
    torch::manual_seed(3 + inputs);
    const int outputs = inputs == 1 || inputs == 5 ? 3 : 2;
    // relu has no second derivative: its hidden layers reach the output through identity.
    auto network = random_mlp(inputs, outputs, activation,
                              activation == "relu" ? "identity" : activation, random);
    const auto points = torch::randn({8, inputs}, torch::kFloat64);
    const auto channels = inputs <= 2   ? all_channels(outputs, inputs, 4)
                          : inputs == 3 ? all_channels(outputs, inputs, 3)
                                        : some_channels(outputs, inputs, 4, 6, random);
    expect_agreement(*network, points, channels, activation + " d=" + std::to_string(inputs));
  }
}

INSTANTIATE_TEST_SUITE_P(TaylorActivations, TaylorActivation,
                         ::testing::ValuesIn(model::activation_names()));

// A hidden activation and a different output activation; a single hidden layer; none at all.
TEST(TaylorMlp, OutputActivationsAndShallowNetworks) {
  std::mt19937 random(5);
  torch::manual_seed(5);
  const auto points = torch::randn({8, 2}, torch::kFloat64);
  const auto channels = all_channels(2, 2, 3);
  for (const auto& [hidden, output] : std::vector<std::pair<std::string, std::string>>{
           {"tanh", "sigmoid"}, {"silu", "softplus"}, {"sin", "gelu"}, {"relu", "tanh"}}) {
    auto network = random_mlp(2, 2, hidden, output, random);
    expect_agreement(*network, points, channels, hidden + " -> " + output);
  }
  for (std::vector<int> hidden : {std::vector<int>{7}, std::vector<int>{}}) {
    model::MlpOptions options;
    options.inputs = 2;
    options.outputs = 2;
    options.hidden = hidden;
    options.output_activation = "tanh";
    model::Mlp network(options);
    network.to(torch::kFloat64);
    expect_agreement(network, points, channels, std::to_string(hidden.size()) + " hidden");
  }
}

TEST(TaylorMlp, FourierFeatures) {
  for (bool train : {false, true}) {
    torch::manual_seed(11);
    auto network = make_mlp(2, 2, {6, 5}, model::FourierOptions{4, 0.7, train, {}});
    const auto points = torch::rand({8, 2}, torch::kFloat64);
    expect_agreement(*network, points, all_channels(2, 2, 4), train ? "trainable B" : "frozen B");
  }
}

// The tiled CPU pass in each kernel variant this CPU runs (builds for AVX-512, AVX-512 with narrow
// row tails, AVX2; three tile sizes), whatever the measurement would pick.
class TaylorTiles : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    previous_ = tiles::forced_variant();
    tiles::force_variant(GetParam());
  }
  void TearDown() override {
    if (previous_) {
      tiles::force_variant(*previous_);
    } else {
      tiles::measure_variants();
    }
  }

 private:
  std::optional<std::string> previous_;
};

std::string variant_test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name;
  for (const char c : info.param)
    name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

// Many points (several tiles and a partial one, over two threads), widths whose rows end in a
// whole, a half and a masked vector, panels of every width the products take, tanh and sigmoid, a
// Fourier embedding, float32, and the gradient with respect to the points themselves.
TEST_P(TaylorTiles, SpanManyPointsThreadsAndWidths) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  std::mt19937 random(9);
  torch::manual_seed(9);
  for (const auto& [hidden, output] : std::vector<std::pair<std::string, std::string>>{
           {"tanh", "identity"}, {"sigmoid", "tanh"}}) {
    model::MlpOptions options;
    options.inputs = 3;
    options.outputs = 2;
    options.hidden = {37, 20, 9};
    options.activation = hidden;
    options.output_activation = output;
    model::Mlp network(options);
    network.to(torch::kFloat64);
    const auto points = torch::randn({1000, 3}, torch::kFloat64);
    expect_agreement(network, points, all_channels(2, 3, 3), hidden + " tiles");
  }
  {
    auto network = make_mlp(2, 1, {24, 24}, model::FourierOptions{8, 0.7, true, {}});
    expect_agreement(*network, torch::rand({777, 2}, torch::kFloat64), all_channels(1, 2, 2),
                     "fourier tiles");
  }
  {
    // Layers of 64 and 50: panels of four vectors (blocks of six rows, and the 4-, 2- and 1-row
    // blocks after them), and a panel of four then one of three with a half vector at its end.
    auto network = make_mlp(3, 1, {64, 50}, std::nullopt);
    expect_agreement(*network, torch::randn({601, 3}, torch::kFloat64), all_channels(1, 3, 2),
                     "wide tiles");
  }
  {
    auto network = make_mlp(2, 1, {20, 64, 20}, std::nullopt, torch::kFloat32);
    const auto points = torch::rand({3000, 2});
    const auto channels = all_channels(1, 2, 2);
    const auto expected = make_engine("autograd", *network)->compute(points, channels, false);
    const auto actual = make_engine("taylor", *network)->compute(points, channels, false);
    for (const auto& channel : channels)
      EXPECT_LT(max_relative_difference(actual.at(channel), expected.at(channel)), 1e-5);
  }
  {
    auto network = make_mlp(2, 1, {20, 20});
    const auto channels = all_channels(1, 2, 2);
    std::vector<torch::Tensor> grads;
    for (const std::string engine : {"autograd", "taylor"}) {
      torch::manual_seed(4);
      const auto points = torch::rand({500, 2}, torch::kFloat64).requires_grad_(true);
      // The autograd engine detaches the points; reverse mode on them directly keeps the graph.
      ChannelMap values;
      if (engine == "taylor") {
        values = make_engine(engine, *network)->compute(points, channels, true);
      } else {
        values = value_channels(network->forward(points));
        differentiate_in_reverse(values, channels, points, true);
      }
      torch::Tensor loss = torch::zeros({}, torch::kFloat64);
      for (const auto& [channel, value] : values)
        loss = loss + value.square().mean() * (1.0 + channel.order());
      grads.push_back(torch::autograd::grad({loss}, {points})[0]);
    }
    EXPECT_LT(max_relative_difference(grads[1], grads[0]), 1e-10) << "gradient of the points";
  }
  {
    // No points at all (an empty point set): empty channels and zero gradients, no crash.
    auto network = make_mlp(2, 1, {20});
    const auto values =
        make_engine("taylor", *network)
            ->compute(torch::zeros({0, 2}, torch::kFloat64), all_channels(1, 2, 2), true);
    torch::Tensor loss = torch::zeros({}, torch::kFloat64);
    for (const auto& [channel, value] : values) {
      EXPECT_EQ(value.numel(), 0);
      loss = loss + value.sum();
    }
    loss.backward();
    for (const auto& parameter : network->parameters())
      EXPECT_EQ(parameter.grad().abs().sum().item<double>(), 0.0);
  }
  at::set_num_threads(threads);
}

INSTANTIATE_TEST_SUITE_P(KernelVariants, TaylorTiles, ::testing::ValuesIn(tiles::variants()),
                         variant_test_name);

// Summed Laplacians travel as one channel (σ'' Σ_i z_i² + σ' z_S): the same numbers as the sum
// of autograd's second derivatives, alone or with other channels, over all inputs or some, on the
// tiled pass (tanh), the whole-tensor pass (sin) and with a Fourier embedding. At d = 20 the
// squares σ'' z_i² of one Laplacian take two runs of the fused loop (at most 16 each).
TEST(TaylorMlp, SummedLaplacians) {
  std::mt19937 random(13);
  for (int inputs : {2, 3, 10, 20}) {
    for (const std::string activation : {"tanh", "sin"}) {
      torch::manual_seed(inputs);
      auto network = random_mlp(inputs, 2, activation, "identity", random);
      const auto points = torch::randn({300, inputs}, torch::kFloat64);
      std::vector<int> all(static_cast<size_t>(inputs));
      std::iota(all.begin(), all.end(), 0);
      const std::set<Channel> channels = {
          {0, {}, all}, {1, {}, {0, inputs - 1}}, {1, {0}}, {0, {1, 1}}};
      expect_agreement(*network, points, channels,
                       activation + " laplacian d=" + std::to_string(inputs));
    }
  }
  auto network = make_mlp(3, 1, {8, 8}, model::FourierOptions{4, 0.7, true, {}});
  expect_agreement(*network, torch::rand({50, 3}, torch::kFloat64), {{0, {}, {0, 1, 2}}},
                   "fourier laplacian");
}

// Exactly the requested channels and the values come back; without create_graph (no custom
// backward), the same numbers.
TEST(TaylorMlp, ReturnsTheRequestedChannelsAndValues) {
  std::mt19937 random(2);
  torch::manual_seed(2);
  auto network = random_mlp(3, 2, "tanh", "identity", random);
  const auto points = torch::randn({10, 3}, torch::kFloat64);
  const std::set<Channel> channels = {{0, {0, 2}}, {1, {1, 1, 1}}};
  auto engine = make_engine("taylor", *network);
  const auto values = engine->compute(points, channels, true);
  const std::set<Channel> expected = {{0, {}}, {1, {}}, {0, {0, 2}}, {1, {1, 1, 1}}};
  std::set<Channel> returned;
  for (const auto& entry : values) {
    returned.insert(entry.first);
    EXPECT_EQ(entry.second.sizes(), torch::IntArrayRef({10}));
  }
  EXPECT_TRUE(returned == expected);
  const auto detached = engine->compute(points, channels, false);
  for (const auto& channel : channels)
    EXPECT_LT(max_relative_difference(detached.at(channel), values.at(channel)), 1e-12);
  const auto plain = engine->compute(points, {Channel{1, {}}}, false);
  EXPECT_LT(max_relative_difference(plain.at({1, {}}), network->forward(points).select(1, 1)),
            1e-15);
}

// Output transforms (hard constraints) through Taylor mode: T(x, N) with N inside nonlinear
// functions, one output transformed and one raw, every channel to order 4 in 2-D and to order 3 in
// 3-D, summed Laplacians, and the weight gradients, against autograd through the transform.
TEST(TaylorTransform, EqualsAutogradThroughTheTransform) {
  const std::vector<std::string> inputs_names = {"x", "y", "z"};
  for (int inputs : {1, 2, 3}) {
    std::mt19937 random(static_cast<unsigned>(40 + inputs));
    torch::manual_seed(40 + inputs);
    auto raw = random_mlp(inputs, 2, "tanh", "identity", random);
    expr::Symbols symbols;
    symbols.inputs.assign(inputs_names.begin(), inputs_names.begin() + inputs);
    symbols.constants = {{"a", 0.7}};
    symbols.fields = {"N"};
    const std::string text =
        inputs == 1 ? "x*(1-x)*N + sin(pi*x)" : "x*(1-y)*exp(a*N) - N^3*y + sin(N*x)/(2 + cos(y))";
    auto network = std::make_shared<model::TransformedNetwork>(
        raw, std::vector<expr::NodePtr>{expr::parse(text, symbols), nullptr});
    EXPECT_EQ(taylor::TaylorEngine(*network).path(), taylor::TaylorEngine::Path::mlp);
    EXPECT_EQ(make_engine("taylor", *network)->name(), "taylor");
    const auto points = torch::randn({12, inputs}, torch::kFloat64);
    auto channels = all_channels(2, inputs, inputs == 3 ? 3 : 4);
    if (inputs > 1) channels.insert(Channel{0, {}, {0, inputs - 1}});
    expect_agreement(*network, points, channels, text);
    // Without a graph (evaluation), the same numbers, detached.
    const auto detached = make_engine("taylor", *network)->compute(points, channels, false);
    const auto with_graph = make_engine("taylor", *network)->compute(points, channels, true);
    for (const auto& channel : channels) {
      EXPECT_FALSE(detached.at(channel).requires_grad());
      EXPECT_LT(max_relative_difference(detached.at(channel), with_graph.at(channel)), 1e-13);
    }
  }
}

// The raw network's channels that a transformed channel needs: every sub-multiset of its indices.
TEST(TaylorTransform, RawChannelsAreTheSubMultisets) {
  std::mt19937 random(3);
  auto raw = random_mlp(2, 2, "tanh", "identity", random);
  expr::Symbols symbols;
  symbols.inputs = {"x", "y"};
  symbols.fields = {"N"};
  model::TransformedNetwork network(raw, {expr::parse("x*N", symbols), nullptr});
  const std::set<Channel> raw_channels =
      raw_channels_for(network, {Channel{0, {0, 0, 1}}, Channel{1, {1, 1}}});
  const std::set<Channel> expected = {{0, {}},     {0, {0}},       {0, {1}},   {0, {0, 0}},
                                      {0, {0, 1}}, {0, {0, 0, 1}}, {1, {1, 1}}};
  EXPECT_TRUE(raw_channels == expected);
}

// ResNet and the modified MLP go through Taylor mode as tensors (sums and, for the gate, products
// of channels by the Leibniz rule): the same numbers and weight gradients as autograd, to order 3
// with mixed partials, with summed Laplacians and with a Fourier embedding.
TEST(TaylorNetworks, ResNetAndModifiedMlpEqualAutograd) {
  for (const bool fourier : {false, true}) {
    torch::manual_seed(fourier ? 23 : 21);
    using Fourier = std::optional<model::FourierOptions>;
    const auto resnet = small_resnet(fourier ? Fourier{{3, 0.8, true, {}}} : Fourier{});
    auto modified =
        small_modified_mlp({5, 5, 5}, fourier ? Fourier{{3, 0.8, false, {}}} : Fourier{});
    modified.output_activation = "tanh";
    std::vector<std::shared_ptr<model::Network>> networks = {
        std::make_shared<model::ResNet>(resnet), std::make_shared<model::ModifiedMlp>(modified)};
    const auto points = torch::randn({8, 2}, torch::kFloat64);
    auto channels = all_channels(2, 2, 3);
    channels.insert(Channel{1, {}, {0, 1}});
    for (auto& network : networks) {
      network->to(torch::kFloat64);
      EXPECT_EQ(taylor::TaylorEngine(*network).path(), taylor::TaylorEngine::Path::tensor_ops);
      EXPECT_EQ(make_engine("taylor", *network)->name(), "taylor");
      expect_agreement(*network, points, channels, fourier ? "with fourier" : "plain");
    }
  }
}

// The periodic embedding (period 2 in input 1): the network and every derivative of it are
// periodic (to 1e-12 relative to the channel's size) with every engine, and Taylor's derivatives
// and parameter gradients through it equal autograd's, on the MLP passes (8 points: the stacked
// loops; 1000: the tiled pass), with Fourier features after it, and on the channel algebra (a
// modified MLP).
TEST(TaylorNetworks, PeriodicEmbeddingIsExactAndEqualsAutograd) {
  const std::vector<double> periods = {0.0, 2.0};
  for (const bool fourier : {false, true}) {
    torch::manual_seed(fourier ? 31 : 37);
    using Fourier = std::optional<model::FourierOptions>;
    model::MlpOptions mlp;
    mlp.inputs = 2;
    mlp.outputs = 2;
    mlp.hidden = {9, 7};
    mlp.output_activation = "tanh";
    mlp.fourier = fourier ? Fourier{{3, 0.8, true, {}}} : Fourier{};
    mlp.periods = periods;
    auto modified =
        small_modified_mlp({5, 5, 5}, fourier ? Fourier{{3, 0.8, false, {}}} : Fourier{});
    modified.periods = periods;
    std::vector<std::shared_ptr<model::Network>> networks = {
        std::make_shared<model::Mlp>(mlp), std::make_shared<model::ModifiedMlp>(modified)};
    const auto channels = all_channels(2, 2, 3);
    for (auto& network : networks) {
      network->to(torch::kFloat64);
      const std::string label = std::string(fourier ? "fourier " : "") +
                                (network == networks[0] ? "mlp" : "modified mlp");
      for (const int64_t n : {8, 1000}) {
        const auto points = torch::rand({n, 2}, torch::kFloat64) * 2 - 1;
        const auto shifted = points + torch::tensor({0.0, 2.0}, torch::kFloat64);
        for (const std::string engine : {"autograd", "forward", "taylor"}) {
          const auto at = make_engine(engine, *network)->compute(points, channels, false);
          const auto there = make_engine(engine, *network)->compute(shifted, channels, false);
          // u to 1e-12; its derivatives (up to ~1e4 with the Fourier features) relative to
          // their size.
          for (const auto& channel : channels) {
            const double scale = std::max(1.0, at.at(channel).abs().max().item<double>());
            EXPECT_LT((at.at(channel) - there.at(channel)).abs().max().item<double>(),
                      1e-12 * scale)
                << label << " " << engine << " order " << channel.order();
          }
        }
        expect_agreement(*network, points, channels, label + " " + std::to_string(n));
      }
    }
  }
}

// Random weight factorization: the network is the plain MLP with W = diag(exp(s)) V, and Taylor
// equals autograd on values, channels and the gradients of s, V and b, on the stacked loops and the
// tiled pass, and on the channel algebra (a modified MLP).
TEST(TaylorNetworks, FactorizedWeightsEqualAPlainMlpAndAutograd) {
  torch::manual_seed(41);
  model::MlpOptions options;
  options.inputs = 2;
  options.outputs = 2;
  options.hidden = {10, 8};
  options.output_activation = "sigmoid";
  model::Mlp plain(options);
  options.factorization = model::FactorizationOptions{1.0, 0.1};
  model::Mlp factorized(options);
  plain.to(torch::kFloat64);
  factorized.to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    for (size_t l = 0; l < plain.layers().size(); ++l) {
      const auto& layer = factorized.layers()[l];
      const auto parameters = layer->named_parameters();
      ASSERT_TRUE(parameters.contains("s") && parameters.contains("v"));
      layer->bias().normal_(0.0, 0.3);
      plain.layers()[l]->named_parameters()["weight"].copy_(parameters["s"].exp().unsqueeze(1) *
                                                            parameters["v"]);
      plain.layers()[l]->bias().copy_(layer->bias());
    }
  }
  const auto points = torch::randn({8, 2}, torch::kFloat64);
  EXPECT_LT((factorized.forward(points) - plain.forward(points)).abs().max().item<double>(), 1e-14);
  const auto channels = all_channels(2, 2, 3);
  expect_agreement(factorized, points, channels, "rwf mlp");
  expect_agreement(factorized, torch::randn({1000, 2}, torch::kFloat64), channels, "rwf tiles");
  auto modified = small_modified_mlp({5, 5, 5});
  modified.factorization = model::FactorizationOptions{0.5, 0.2};
  model::ModifiedMlp gated(modified);
  gated.to(torch::kFloat64);
  expect_agreement(gated, points, channels, "rwf modified mlp");
}

// The Taylor engine decides its path when it is made: a tanh or sigmoid MLP on this CPU in float32
// or float64 runs the tiled pass and offers the fused loss; other activations run the per-layer
// loops without one; ResNet runs as tensor ops; a network without a structure goes to forward mode.
TEST(TaylorEngine, DecidesItsPathWhenMade) {
  std::mt19937 random(5);
  auto tanh_mlp = random_mlp(2, 1, "tanh", "identity", random);
  auto sin_mlp = random_mlp(2, 1, "sin", "identity", random);
  const bool loops = kernels::available();
  auto tiled = make_engine("taylor", *tanh_mlp);
  EXPECT_EQ(tiled->name(), "taylor");
  EXPECT_EQ(tiled->cpu_kernels(), loops ? tiles::kernels_in_use() : "none");
  EXPECT_EQ(tiled->fused_loss() != nullptr, loops);
  auto per_layer = make_engine("taylor", *sin_mlp);
  EXPECT_EQ(per_layer->fused_loss(), nullptr);
  EXPECT_EQ(per_layer->cpu_kernels(), loops ? "avx2" : "none");

  model::ResNet resnet(small_resnet());
  EXPECT_EQ(taylor::TaylorEngine(resnet).path(), taylor::TaylorEngine::Path::tensor_ops);
  EXPECT_EQ(make_engine("taylor", resnet)->cpu_kernels(), "none");
  EXPECT_EQ(make_engine("taylor", resnet)->fused_loss(), nullptr);
  EXPECT_EQ(make_engine("autograd", *tanh_mlp)->fused_loss(), nullptr);
  EXPECT_EQ(make_engine("autograd", *tanh_mlp)->cpu_kernels(), "none");

  // An opaque function: forward mode, with the same numbers as autograd.
  struct Opaque : model::Network {
    torch::Tensor forward(const torch::Tensor& p) override {
      return torch::sin(p.select(1, 0) * p.select(1, 1)).unsqueeze(1);
    }
    int smooth_orders() const override { return 100; }
  } opaque;
  auto forward = make_engine("taylor", opaque);
  EXPECT_EQ(forward->name(), "forward");
  const auto points = torch::randn({5, 2}, torch::kFloat64);
  const auto channels = all_channels(1, 2, 2);
  const auto expected = make_engine("autograd", opaque)->compute(points, channels, false);
  const auto actual = forward->compute(points, channels, false);
  for (const auto& [channel, values] : expected)
    EXPECT_LT(max_relative_difference(actual.at(channel), values), 1e-12);
  EXPECT_EQ(make_engine("auto", opaque)->name(), "autograd");
}

// An unknown engine name is an input error that names where it was asked and suggests the
// closest.
TEST(EngineRegistry, UnknownNameIsAnInputError) {
  std::mt19937 random(6);
  auto mlp = random_mlp(2, 1, "tanh", "identity", random);
  try {
    make_engine("talyor", *mlp, "c.json: /derivatives");
    FAIL() << "expected an InputError";
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("c.json: /derivatives"), std::string::npos) << message;
    EXPECT_NE(message.find("did you mean 'taylor'"), std::string::npos) << message;
  }
}

// "auto" (the default engine) takes taylor for MLPs and, on a CPU, for the other networks that
// describe their structure (taylor's tensor path measured faster there), autograd for an opaque
// network, and gives the numbers of the engine it picks.
TEST(AutoEngine, PicksTaylorForStructuredNetworksOnTheCpu) {
  torch::manual_seed(22);
  model::MlpOptions mlp_options;
  mlp_options.inputs = 2;
  mlp_options.outputs = 1;
  mlp_options.hidden = {6, 6};
  model::Mlp mlp(mlp_options);
  model::ResNetOptions resnet_options;
  resnet_options.inputs = 2;
  resnet_options.outputs = 1;
  model::ResNet resnet(resnet_options);
  EXPECT_EQ(make_engine("auto", mlp)->name(), "taylor");
  EXPECT_EQ(make_engine("auto", resnet)->name(), "taylor");
  EXPECT_EQ(make_engine("taylor", resnet)->name(), "taylor");
  EXPECT_EQ(make_engine("taylor", mlp)->name(), "taylor");

  mlp.to(torch::kFloat64);
  const auto points = torch::randn({7, 2}, torch::kFloat64);
  const auto channels = all_channels(1, 2, 3);
  const auto picked = make_engine("auto", mlp)->compute(points, channels, false);
  const auto taylor = make_engine("taylor", mlp)->compute(points, channels, false);
  for (const auto& [channel, values] : taylor)
    EXPECT_TRUE(torch::equal(picked.at(channel), values));
}

}  // namespace
}  // namespace pinn::derivatives
