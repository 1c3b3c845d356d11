// Unit tests of the networks that map or split their inputs: input features (model/features),
// parallel per-output networks (model/parallel) and multi-scale Fourier features (Mlp with a list
// of embeddings). Their shapes and names, their forward passes against direct computations, the
// derivatives of every engine against autograd's to 1e-10 (float64), and the bad configs.
#include <gtest/gtest.h>

#include <cmath>

#include "config/reader.hpp"
#include "derivatives/engine.hpp"
#include "derivatives/taylor/taylor_engine.hpp"
#include "model/network.hpp"
#include "model/parallel.hpp"
#include "support.hpp"
#include "util/errors.hpp"

namespace pinn::model {
namespace {

using config::Document;
using config::Json;
using config::Pointer;
using config::Reader;
using expr::Channel;

expr::Symbols symbols_xy() {
  expr::Symbols symbols;
  symbols.inputs = {"x", "y"};
  symbols.outputs = {"u", "v"};
  symbols.constants = {{"k", 2.0}};
  return symbols;
}

// The network of a {"network": ...} config for inputs x, y, outputs u, v and the constant k.
std::shared_ptr<Network> build(const std::string& json, int seed = 3) {
  auto document = Document::from_json(Json::parse(json), "n.json");
  Reader reader(document, Pointer("/network"));
  torch::manual_seed(seed);
  auto network = make_network(reader, symbols_xy());
  network->to(torch::kFloat64);
  return network;
}

std::string error_of(const std::string& json) {
  return testing_support::error_of([&] { build(json); });
}

torch::Tensor points(int64_t n) {
  torch::manual_seed(11);
  return torch::rand({n, 2}, torch::kFloat64) * 2 - 1;
}

// ---- features ----

TEST(Features, IdentityFeaturesAreTheInputs) {
  const auto plain = build(R"j({"network": {"hidden": [6, 5]}})j");
  const auto mapped = build(R"j({"network": {"hidden": [6, 5], "features": ["x", "y"]}})j");
  const auto p = points(9);
  EXPECT_TRUE(torch::allclose(plain->forward(p), mapped->forward(p), 0, 0));
}

TEST(Features, TheFirstLayerSeesTheFeatures) {
  const auto network = std::dynamic_pointer_cast<Mlp>(build(
      R"j({"network": {"hidden": [6], "features": ["x", "sin(y)", "cos(y)", "k*x*y", "1"]}})j"));
  ASSERT_NE(network, nullptr);
  EXPECT_EQ(network->layers().front()->weight().size(1), 5);
  const auto p = points(7);
  const auto x = p.select(1, 0), y = p.select(1, 1);
  const auto features =
      torch::stack({x, torch::sin(y), torch::cos(y), 2.0 * x * y, torch::ones_like(x)}, 1);
  EXPECT_TRUE(torch::allclose(network->features()->forward(p), features, 1e-15, 0));
  const auto& first = network->layers()[0];
  const auto& last = network->layers()[1];
  const auto expected = last->forward(torch::tanh(first->forward(features)));
  EXPECT_LT((network->forward(p) - expected).abs().max().item<double>(), 1e-14);
}

TEST(Features, BadFeaturesNameTheirPath) {
  std::string message = error_of(R"j({"network": {"features": ["x", "u*y"]}})j");
  EXPECT_NE(message.find("/network/features/1"), std::string::npos) << message;
  EXPECT_NE(message.find("output"), std::string::npos) << message;
  message = error_of(R"j({"network": {"features": ["x", "sin(z)"]}})j");
  EXPECT_NE(message.find("/network/features/1"), std::string::npos) << message;
  EXPECT_NE(message.find("column 5"), std::string::npos) << message;
  message = error_of(R"j({"network": {"features": ["u_x"]}})j");
  EXPECT_NE(message.find("/network/features/0"), std::string::npos) << message;
  message = error_of(R"j({"network": {"features": []}})j");
  EXPECT_NE(message.find("/network/features"), std::string::npos) << message;
  message = error_of(R"j({"network": {"features": ["x"], "periodic": {"x": 2}}})j");
  EXPECT_NE(message.find("/network/periodic"), std::string::npos) << message;
  message = error_of(
      R"j({"network": {"features": ["x"], "fourier_features": {"count": 2, "inputs": ["x"]}}})j");
  EXPECT_NE(message.find("/network/fourier_features/inputs"), std::string::npos) << message;
}

// ---- parallel ----

TEST(Parallel, EachOutputIsItsOwnSubNetwork) {
  const auto network = std::dynamic_pointer_cast<ParallelNetwork>(build(R"j({"network": {
      "type": "parallel",
      "networks": {"u": {"hidden": [5, 4], "activation": "sin"},
                   "v": {"type": "resnet", "width": 3, "blocks": 1, "features": ["x*y"]}}}})j"));
  ASSERT_NE(network, nullptr);
  ASSERT_EQ(network->branches().size(), 2u);
  const auto state = network->named_parameters();
  EXPECT_TRUE(state.contains("u.layer0.weight"));
  EXPECT_EQ(state["u.layer0.weight"].sizes(), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(state["u.layer2.weight"].sizes(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(state["v.input.weight"].sizes(), (std::vector<int64_t>{3, 1}));
  const auto p = points(8);
  const auto values = network->forward(p);
  ASSERT_EQ(values.sizes(), (std::vector<int64_t>{8, 2}));
  EXPECT_TRUE(torch::equal(values.select(1, 0), network->branches()[0]->forward(p).select(1, 0)));
  EXPECT_TRUE(torch::equal(values.select(1, 1), network->branches()[1]->forward(p).select(1, 0)));
}

TEST(Parallel, EveryOutputNeedsItsSubNetwork) {
  std::string message =
      error_of(R"j({"network": {"type": "parallel", "networks": {"u": {"hidden": [4]}}}})j");
  EXPECT_NE(message.find("/network/networks"), std::string::npos) << message;
  EXPECT_NE(message.find("'v'"), std::string::npos) << message;
  message =
      error_of(R"j({"network": {"type": "parallel", "networks": {"u": {}, "v": {}, "w": {}}}})j");
  EXPECT_NE(message.find("/network/networks/w"), std::string::npos) << message;
  EXPECT_NE(message.find("not an output"), std::string::npos) << message;
  message = error_of(R"j({"network": {"type": "parallel"}})j");
  EXPECT_NE(message.find("networks"), std::string::npos) << message;
  message = error_of(
      R"j({"network": {"type": "parallel", "networks": {"u": {"hiden": [3]}, "v": {}}}})j");
  EXPECT_NE(message.find("/network/networks/u/hiden"), std::string::npos) << message;
}

// ---- multi-scale Fourier features ----

TEST(MultiScale, BranchesShareTheHiddenLayersAndMeetAtTheOutputLayer) {
  const auto network = std::dynamic_pointer_cast<Mlp>(build(R"j({"network": {"hidden": [6, 5],
      "fourier_features": [{"count": 4, "scale": 1}, {"count": 4, "scale": 10},
                           {"count": 4, "scale": 3}]}})j"));
  ASSERT_NE(network, nullptr);
  ASSERT_EQ(network->scales().size(), 3u);
  EXPECT_EQ(network->scales()[1]->matrix().sizes(), (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(network->layers()[0]->weight().size(1), 8);
  EXPECT_EQ(network->layers()[2]->weight().size(1), 3 * 5);  // three branches concatenated
  const auto state = network->named_parameters();
  EXPECT_TRUE(state.contains("fourier2.B"));
  EXPECT_FALSE(state["fourier0.B"].requires_grad());
  const auto p = points(6);
  std::vector<torch::Tensor> branches;
  for (const auto& scale : network->scales()) {
    const auto projection = 2 * M_PI * p.matmul(scale->matrix().t());
    auto h = torch::cat({torch::cos(projection), torch::sin(projection)}, 1);
    for (size_t i = 0; i < 2; ++i)
      h = torch::tanh(network->layers()[i]->forward(h));
    branches.push_back(h);
  }
  const auto expected = network->layers()[2]->forward(torch::cat(branches, 1));
  EXPECT_LT((network->forward(p) - expected).abs().max().item<double>(), 1e-14);
}

// STMsFFN: the x embeddings times the y embedding, each pair, the x group outermost.
TEST(MultiScale, ProductMultipliesOneBranchOfEachInputGroup) {
  const auto network = std::dynamic_pointer_cast<Mlp>(build(R"j({"network": {"hidden": [5],
      "fourier_combine": "product",
      "fourier_features": [{"count": 3, "scale": 1, "inputs": ["x"]},
                           {"count": 3, "scale": 1, "inputs": ["y"]},
                           {"count": 3, "scale": 5, "inputs": ["x"]}]}})j"));
  ASSERT_NE(network, nullptr);
  const std::vector<std::vector<size_t>> products = {{0, 1}, {2, 1}};
  EXPECT_EQ(network->branch_products(), products);
  EXPECT_EQ(network->scales()[1]->matrix().sizes(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(network->layers()[1]->weight().size(1), 2 * 5);
  const auto p = points(5);
  std::vector<torch::Tensor> branches;
  for (size_t k = 0; k < 3; ++k) {
    const auto column = p.narrow(1, k == 1 ? 1 : 0, 1);
    const auto projection = 2 * M_PI * column.matmul(network->scales()[k]->matrix().t());
    branches.push_back(torch::tanh(network->layers()[0]->forward(
        torch::cat({torch::cos(projection), torch::sin(projection)}, 1))));
  }
  const auto expected = network->layers()[1]->forward(
      torch::cat({branches[0] * branches[1], branches[2] * branches[1]}, 1));
  EXPECT_LT((network->forward(p) - expected).abs().max().item<double>(), 1e-14);
}

TEST(MultiScale, BadListsNameTheirPath) {
  std::string message =
      error_of(R"j({"network": {"fourier_features": [{"count": 4}, {"count": 5}]}})j");
  EXPECT_NE(message.find("/network/fourier_features"), std::string::npos) << message;
  EXPECT_NE(message.find("same count"), std::string::npos) << message;
  message = error_of(R"j({"network": {"type": "resnet",
      "fourier_features": [{"count": 4}, {"count": 4}]}})j");
  EXPECT_NE(message.find("needs type mlp"), std::string::npos) << message;
  message = error_of(R"j({"network": {"fourier_combine": "sum",
      "fourier_features": [{"count": 4}, {"count": 4}]}})j");
  EXPECT_NE(message.find("/network/fourier_combine"), std::string::npos) << message;
  message = error_of(R"j({"network": {"fourier_features": [{"count": 4, "inputs": ["z"]},
      {"count": 4}]}})j");
  EXPECT_NE(message.find("/network/fourier_features/0/inputs"), std::string::npos) << message;
  message = error_of(R"j({"network": {"fourier_combine": "product",
      "fourier_features": [{"count": 4, "scale": 1}, {"count": 4, "scale": 3}]}})j");
  EXPECT_NE(message.find("/network/fourier_combine"), std::string::npos) << message;
  EXPECT_NE(message.find("input groups"), std::string::npos) << message;
  message = error_of(R"j({"network": {"fourier_features": []}})j");
  EXPECT_NE(message.find("/network/fourier_features"), std::string::npos) << message;
}

// ---- derivatives through all of them ----

double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs() / (1 + b.abs())).max().item<double>();
}

const char* const kMappedNetworks[] = {
    R"j({"network": {"hidden": [8, 8], "features": ["x", "sin(y)", "cos(y)", "k*x*y"]}})j",
    R"j({"network": {"hidden": [6], "activation": "sin", "features": ["x^2", "exp(y)"],
                    "fourier_features": {"count": 3, "scale": 0.5, "trainable": true}}})j",
    R"j({"network": {"type": "resnet", "width": 6, "blocks": 2, "activation": "silu",
                    "features": ["x", "y", "x*y"]}})j",
    R"j({"network": {"type": "modified_mlp", "hidden": [6, 6, 6], "features": ["sin(x)", "y"]}})j",
    R"j({"network": {"type": "parallel", "networks": {
        "u": {"hidden": [6, 6], "features": ["x", "sin(y)", "cos(y)"]},
        "v": {"type": "resnet", "width": 5, "blocks": 1}}}})j",
    R"j({"network": {"type": "parallel", "networks": {
        "u": {"hidden": [6, 6]}, "v": {"hidden": [7], "activation": "sigmoid"}}}})j",
    R"j({"network": {"hidden": [6, 6],
        "fourier_features": [{"count": 3, "scale": 0.5}, {"count": 3, "scale": 2}]}})j",
    R"j({"network": {"hidden": [5], "fourier_combine": "product",
        "fourier_features": [{"count": 3, "scale": 0.5, "inputs": ["x"]},
                             {"count": 3, "scale": 2, "inputs": ["x"]},
                             {"count": 3, "scale": 1, "inputs": ["y"], "trainable": true}]}})j",
};

class MappedNetworkDerivatives : public ::testing::TestWithParam<const char*> {};

// Every engine's channels up to order 3 and summed Laplacians, and the weight gradients of a loss
// built from them, equal autograd's on the same network.
TEST_P(MappedNetworkDerivatives, EveryEngineEqualsAutograd) {
  const std::string json = GetParam();
  const auto network = build(json);
  auto channels = testing_support::all_channels(2, 2, 3);
  channels.insert(Channel{0, {}, {0, 1}});
  channels.insert(Channel{1, {}, {0, 1}});
  const auto p = points(24);
  const auto expected = derivatives::make_engine("autograd", *network)->compute(p, channels, true);
  std::vector<torch::Tensor> trainable;
  for (const auto& parameter : network->parameters()) {
    if (parameter.requires_grad()) trainable.push_back(parameter);
  }
  const auto gradients = [&](const derivatives::ChannelMap& values) {
    torch::Tensor loss = torch::zeros({}, torch::kFloat64);
    for (const auto& channel : channels)
      loss = loss + values.at(channel).square().mean();
    return torch::autograd::grad({loss}, trainable, {}, true, false, true);
  };
  const auto expected_gradients = gradients(expected);
  for (const std::string engine : {"forward", "taylor", "auto"}) {
    const auto actual = derivatives::make_engine(engine, *network)->compute(p, channels, true);
    for (const auto& channel : channels) {
      EXPECT_LT(max_relative_difference(actual.at(channel), expected.at(channel)), 1e-10)
          << engine << " " << expr::channel_name(channel, {"x", "y"}, {"u", "v"});
    }
    const auto actual_gradients = gradients(actual);
    for (size_t i = 0; i < trainable.size(); ++i) {
      ASSERT_TRUE(actual_gradients[i].defined() && expected_gradients[i].defined()) << engine;
      EXPECT_LT(max_relative_difference(actual_gradients[i], expected_gradients[i]), 1e-10)
          << engine << " parameter " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Networks, MappedNetworkDerivatives, ::testing::ValuesIn(kMappedNetworks));

// The Taylor engine keeps the features' channels of points it saw: points written in place (a
// redrawn set) or other points get their own, never the kept ones.
TEST(MappedNetworkDerivatives, KeptFeatureChannelsFollowThePoints) {
  const auto network = build(kMappedNetworks[0]);
  auto taylor = derivatives::make_engine("taylor", *network);
  auto autograd = derivatives::make_engine("autograd", *network);
  const auto channels = testing_support::all_channels(2, 2, 2);
  auto p = points(16);
  for (int round = 0; round < 3; ++round) {
    const auto actual = taylor->compute(p, channels, false);
    const auto expected = autograd->compute(p, channels, false);
    for (const auto& channel : channels) {
      EXPECT_LT(max_relative_difference(actual.at(channel), expected.at(channel)), 1e-10)
          << "round " << round << " " << expr::channel_name(channel, {"x", "y"}, {"u", "v"});
    }
    if (round == 0) p.mul_(0.5);  // the same tensor, new values
    if (round == 1) p = points(16) + 0.25;
  }
}

// An MLP with features, and a parallel network of MLPs, stay on the Taylor engine's MLP passes
// (what "auto" picks); a multi-scale MLP is not a chain.
TEST(MappedNetworkPaths, FeaturesAndParallelMlpsRunTheMlpPasses) {
  using derivatives::taylor::TaylorEngine;
  EXPECT_EQ(TaylorEngine(*build(kMappedNetworks[0])).path(), TaylorEngine::Path::mlp);
  EXPECT_EQ(TaylorEngine(*build(kMappedNetworks[1])).path(), TaylorEngine::Path::mlp);
  EXPECT_EQ(TaylorEngine(*build(kMappedNetworks[5])).path(), TaylorEngine::Path::mlp);
  EXPECT_EQ(derivatives::make_engine("auto", *build(kMappedNetworks[5]))->name(), "taylor");
  EXPECT_EQ(TaylorEngine(*build(kMappedNetworks[4])).path(), TaylorEngine::Path::tensor_ops);
  EXPECT_EQ(TaylorEngine(*build(kMappedNetworks[6])).path(), TaylorEngine::Path::tensor_ops);
}

}  // namespace
}  // namespace pinn::model
