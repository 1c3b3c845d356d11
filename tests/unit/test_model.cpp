// Unit tests of model/ and output/: the network types (MLP, modified MLP, ResNet), the Fourier
// embedding, the factory, and model.pt round trips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "config/reader.hpp"
#include "model/activation.hpp"
#include "model/network.hpp"
#include "output/layout.hpp"
#include "output/run_directory.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"

namespace pinn::model {
namespace {

output::ModelDescription describe(const nlohmann::ordered_json& network,
                                  std::vector<std::string> inputs,
                                  std::vector<std::string> outputs) {
  output::ModelDescription description;
  description.network = network;
  description.inputs = std::move(inputs);
  description.outputs = std::move(outputs);
  return description;
}

using config::Document;
using config::Json;
using config::Pointer;
using config::Reader;

TEST(Activation, ValuesMatchTheirDefinitions) {
  const auto x = torch::linspace(-3, 3, 13, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(activation("tanh").apply(x), torch::tanh(x)));
  EXPECT_TRUE(torch::allclose(activation("silu").apply(x), torch::silu(x)));
  EXPECT_TRUE(torch::allclose(activation("gelu").apply(x), torch::gelu(x)));
  EXPECT_TRUE(torch::allclose(activation("softplus").apply(x), torch::log1p(torch::exp(x))));
  EXPECT_TRUE(torch::equal(activation("identity").apply(x), x));
  EXPECT_EQ(activation("relu").smooth_orders, 1);
  EXPECT_THROW(activation("nope"), InputError);
}

// Every activation's Taylor rules σ^(k), k <= 4, equal autograd's derivatives of its tensor
// function in float64, and where σ' is a polynomial of σ, so do P_k(σ) (the kernels' form).
TEST(Activation, TaylorRulesAndValuePolynomialsEqualAutograd) {
  const auto z = torch::linspace(-2.5, 2.5, 11, torch::kFloat64) + 0.013;  // off relu's kink
  for (const auto& name : activation_names()) {
    const Activation& a = activation(name);
    EXPECT_EQ(a.name, name);
    EXPECT_EQ(&activation(a.kind), &a) << name;
    const auto rules = a.derivatives(z, 4);
    ASSERT_EQ(rules.size(), 5u) << name;
    auto x = z.clone().requires_grad_(true);
    torch::Tensor derivative = a.apply(x);
    for (int k = 0; k <= 4; ++k) {
      const auto expected = derivative.detach();
      const auto actual = rules[static_cast<size_t>(k)].defined() ? rules[static_cast<size_t>(k)]
                                                                  : torch::zeros_like(z);
      EXPECT_TRUE(torch::allclose(actual, expected, 1e-10, 1e-12)) << name << " order " << k;
      if (a.has_value_polynomials()) {
        const auto polys = a.value_polynomials(4);
        const auto from_value = evaluate(polys[static_cast<size_t>(k)], a.apply(z));
        EXPECT_TRUE(torch::allclose(from_value.defined() ? from_value : torch::zeros_like(z),
                                    expected, 1e-10, 1e-12))
            << name << " polynomial " << k;
      }
      if (k == 4) break;
      // A derivative that no longer depends on z (identity's 1, relu's step) has zero derivatives.
      derivative = derivative.requires_grad()
                       ? torch::autograd::grad({derivative.sum()}, {x}, {}, true, true, true)[0]
                       : torch::Tensor();
      if (!derivative.defined()) derivative = torch::zeros_like(z);
    }
  }
}

// Networks describe themselves as operations: the MLP as a chain (the engines' fast path), the
// others not; a network that says nothing is opaque.
TEST(Structure, MlpIsAChainOthersAreNot) {
  MlpOptions mlp;
  mlp.inputs = 2;
  mlp.hidden = {4, 4};
  mlp.output_activation = "tanh";
  const auto chain = Mlp(mlp).structure();
  EXPECT_TRUE(chain.is_chain());
  ASSERT_EQ(chain.operations.size(), 6u);  // (linear, activation) x 3
  EXPECT_EQ(chain.operations.back().activation->kind, ActivationKind::tanh);
  EXPECT_EQ(chain.activations().size(), 3u);
  mlp.fourier = FourierOptions{3, 1.0, false, {}};
  const auto embedded = Mlp(mlp).structure();
  EXPECT_TRUE(embedded.is_chain());
  EXPECT_EQ(embedded.operations.front().kind, Operation::Kind::fourier);

  ResNetOptions resnet;
  resnet.inputs = 2;
  resnet.blocks = 2;
  const auto residual = ResNet(resnet).structure();
  EXPECT_FALSE(residual.is_chain());
  const auto adds =
      std::count_if(residual.operations.begin(), residual.operations.end(),
                    [](const Operation& op) { return op.kind == Operation::Kind::add; });
  EXPECT_EQ(adds, 2);
  ModifiedMlpOptions modified;
  modified.inputs = 2;
  modified.hidden = {4, 4, 4};
  const auto gated = ModifiedMlp(modified).structure();
  EXPECT_FALSE(gated.is_chain());
  EXPECT_EQ(gated.output(), gated.operations.back().result);
}

TEST(Mlp, ShapesParametersAndForward) {
  MlpOptions options;
  options.inputs = 2;
  options.outputs = 3;
  options.hidden = {20, 10};
  options.activation = "sigmoid";
  Mlp network(options);
  EXPECT_EQ(parameter_count(network), (2 * 20 + 20) + (20 * 10 + 10) + (10 * 3 + 3));
  const auto x = torch::randn({7, 2});
  const auto y = network.forward(x);
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{7, 3}));
  // forward is Linear, sigmoid, Linear, sigmoid, Linear, identity.
  auto l = network.layers();  // holders by value: forward is not const
  const auto expected =
      l[2]->forward(torch::sigmoid(l[1]->forward(torch::sigmoid(l[0]->forward(x)))));
  EXPECT_TRUE(torch::allclose(y, expected));
}

// A network that could never fit, or absurdly deep, is refused before anything is allocated,
// naming the key, the memory it would take and the machine's.
TEST(Mlp, SizesBeyondTheMachineAreRefusedWhenRead) {
  auto error = [](const std::string& network) {
    auto document = Document::from_json(Json::parse(R"({"network": )" + network + "}"), "n.json");
    Reader reader(document, Pointer("/network"));
    try {
      make_network(reader, 2, 1);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string wide = error(R"({"hidden": [2000000000, 2000000000]})");
  EXPECT_NE(wide.find("n.json: /network/hidden: a network of 4e+18 weights (with gradients and "
                      "optimizer state) would take about"),
            std::string::npos)
      << wide;
  EXPECT_NE(wide.find("of memory this machine has"), std::string::npos) << wide;
  Json layers = Json::array();
  for (int i = 0; i < 100000; ++i)
    layers.push_back(2);
  const std::string many = error(Json{{"hidden", layers}}.dump());
  EXPECT_NE(many.find("/network/hidden: expected at most 1000 hidden layers, found 100000"),
            std::string::npos)
      << many;
  EXPECT_NE(error(R"({"type": "resnet", "width": 2000000000, "blocks": 2})").find("would take"),
            std::string::npos);
  EXPECT_NE(error(R"({"type": "resnet", "width": 4, "blocks": 5000})").find("at most 1000 blocks"),
            std::string::npos);
  EXPECT_EQ(error(R"({"hidden": [64, 64, 64]})"), "no error");
}

TEST(Mlp, FactoryReadsOptionsAndFillsDefaults) {
  auto document = Document::from_json(
      Json::parse(R"({"network": {"hidden": [5], "activation": "sin", "init": "xavier_uniform"}})"),
      "n.json");
  Reader reader(document, Pointer("/network"));
  auto network = make_network(reader, 3, 1);
  auto* mlp = dynamic_cast<Mlp*>(network.get());
  ASSERT_NE(mlp, nullptr);
  EXPECT_EQ(mlp->options().hidden, std::vector<int>{5});
  EXPECT_EQ(mlp->options().activation, "sin");
  EXPECT_EQ(document.root()["network"]["type"], "mlp");
  EXPECT_EQ(document.root()["network"]["output_activation"], "identity");
  auto bad = Document::from_json(Json::parse(R"({"network": {"activation": "tahn"}})"), "n.json");
  Reader bad_reader(bad, Pointer("/network"));
  try {
    make_network(bad_reader, 1, 1);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'tanh'?"), std::string::npos) << e.what();
  }
}

// A network of `type` built by the factory from a JSON "network" object.
std::shared_ptr<Network> build(const std::string& json, int inputs, int outputs) {
  auto document = Document::from_json(Json::parse(json), "n.json");
  Reader reader(document, Pointer("/network"));
  return make_network(reader, inputs, outputs);
}

std::string expect_input_error(const std::string& json, int inputs = 2) {
  try {
    build(json, inputs, 1);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an InputError for " << json;
  return "";
}

const char* const kNetworkConfigs[] = {
    R"({"network": {"type": "mlp", "hidden": [6, 5]}})",
    R"({"network": {"type": "modified_mlp", "hidden": [6, 6, 6]}})",
    R"({"network": {"type": "resnet", "width": 6, "blocks": 2}})",
    R"({"network": {"type": "mlp", "hidden": [6], "fourier_features": {"count": 4}}})",
    R"({"network": {"type": "modified_mlp", "hidden": [5, 5],
                    "fourier_features": {"count": 3, "scale": 2.0, "trainable": true}}})",
    R"({"network": {"type": "resnet", "width": 4, "blocks": 1,
                    "fourier_features": {"count": 5, "scale": 0.5}}})",
};

TEST(Network, EveryTypeGivesOneValuePerOutput) {
  for (const char* json : kNetworkConfigs) {
    for (int outputs : {1, 3}) {
      torch::manual_seed(3);
      auto network = build(json, 2, outputs);
      const auto y = network->forward(torch::randn({7, 2}));
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{7, outputs})) << json;
      EXPECT_TRUE(torch::isfinite(y).all().item<bool>()) << json;
    }
  }
}

TEST(Network, SecondDerivativesWithRespectToInputsExist) {
  for (const char* json : kNetworkConfigs) {
    torch::manual_seed(4);
    auto network = build(json, 2, 3);
    network->to(torch::kFloat64);
    const auto x = torch::randn({5, 2}, torch::kFloat64).requires_grad_(true);
    const auto u = network->forward(x).select(1, 2);
    const auto first = torch::autograd::grad({u.sum()}, {x}, {}, true, true)[0];
    ASSERT_TRUE(first.defined()) << json;
    const auto second = torch::autograd::grad({first.select(1, 0).sum()}, {x}, {}, true, true)[0];
    ASSERT_TRUE(second.defined()) << json;
    EXPECT_GT(second.abs().sum().item<double>(), 0.0) << json;
    EXPECT_TRUE(torch::isfinite(second).all().item<bool>()) << json;
  }
}

TEST(Network, FactoryWritesDefaultsOfEachType) {
  auto document = Document::from_json(
      Json::parse(R"({"network": {"type": "resnet", "fourier_features": {}}})"), "n.json");
  Reader reader(document, Pointer("/network"));
  auto network = make_network(reader, 2, 1);
  auto* resnet = dynamic_cast<ResNet*>(network.get());
  ASSERT_NE(resnet, nullptr);
  const auto& saved = document.root()["network"];
  EXPECT_EQ(saved["width"], 32);
  EXPECT_EQ(saved["blocks"], 3);
  EXPECT_EQ(saved["fourier_features"]["count"], 64);
  EXPECT_EQ(saved["fourier_features"]["scale"], 1.0);
  EXPECT_EQ(saved["fourier_features"]["trainable"], false);
  EXPECT_EQ(resnet->blocks().size(), 3u);
  ASSERT_NE(resnet->fourier(), nullptr);
  EXPECT_EQ(resnet->fourier()->matrix().sizes(), (std::vector<int64_t>{64, 2}));
  EXPECT_EQ(resnet->input_layer()->weight().size(1), 128);
  // The frozen Fourier matrix is a parameter (model.pt holds it) but not a trainable one.
  EXPECT_FALSE(resnet->fourier()->matrix().requires_grad());
  EXPECT_EQ(parameter_count(*resnet), (128 * 32 + 32) + 3 * 2 * (32 * 32 + 32) + (32 + 1));
  auto names = resnet->named_parameters().keys();
  EXPECT_NE(std::find(names.begin(), names.end(), "fourier.B"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "block2.layer1.weight"), names.end());

  auto trainable = build(
      R"({"network": {"type": "mlp", "hidden": [3], "fourier_features": {"trainable": true}}})", 1,
      1);
  EXPECT_EQ(parameter_count(*trainable), 64 + (128 * 3 + 3) + (3 + 1));

  auto plain = build(R"({"network": {"type": "modified_mlp"}})", 2, 1);
  auto* modified = dynamic_cast<ModifiedMlp*>(plain.get());
  ASSERT_NE(modified, nullptr);
  EXPECT_EQ(modified->fourier(), nullptr);
  EXPECT_EQ(modified->options().hidden, (std::vector<int>{32, 32, 32}));
}

TEST(Network, FourierFeaturesAreCosAndSinOfTwoPiBx) {
  torch::manual_seed(5);
  FourierOptions options;
  options.count = 3;
  options.scale = 2.5;
  FourierFeatures features(2, options);
  const auto& b = features.matrix();
  EXPECT_EQ(b.sizes(), (std::vector<int64_t>{3, 2}));
  // B ~ N(0, scale²): the draw of torch::randn scaled, from the global seed.
  torch::manual_seed(5);
  EXPECT_TRUE(torch::allclose(b, 2.5 * torch::randn({3, 2})));
  const auto x = torch::randn({4, 2});
  const auto y = features.forward(x);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{4, 6}));
  for (int64_t n = 0; n < 4; ++n) {
    for (int64_t j = 0; j < 3; ++j) {
      const double angle = 2 * M_PI *
                           (b[j][0].item<double>() * x[n][0].item<double>() +
                            b[j][1].item<double>() * x[n][1].item<double>());
      EXPECT_NEAR(y[n][j].item<double>(), std::cos(angle), 1e-4);
      EXPECT_NEAR(y[n][3 + j].item<double>(), std::sin(angle), 1e-4);
    }
  }
  // The MLP's first layer sees the 2 * count features.
  MlpOptions mlp_options;
  mlp_options.inputs = 2;
  mlp_options.hidden = {4};
  mlp_options.fourier = options;
  Mlp mlp(mlp_options);
  EXPECT_EQ(mlp.layers()[0]->weight().size(1), 6);
  auto l = mlp.layers();
  const auto embedded = mlp.fourier()->forward(x);
  EXPECT_TRUE(torch::allclose(mlp.forward(x), l[1]->forward(torch::tanh(l[0]->forward(embedded)))));
}

TEST(Network, ModifiedMlpMatchesAHandWrittenForward) {
  torch::manual_seed(6);
  ModifiedMlpOptions options;
  options.inputs = 2;
  options.outputs = 2;
  options.hidden = {3, 3, 3};
  options.activation = "sin";
  options.output_activation = "sigmoid";
  options.init = "normal";
  ModifiedMlp network(options);
  network.to(torch::kFloat64);
  ASSERT_EQ(network.layers().size(), 4u);
  EXPECT_EQ(parameter_count(network),
            2 * (2 * 3 + 3) + (2 * 3 + 3) + 2 * (3 * 3 + 3) + (3 * 2 + 2));
  const auto x = torch::randn({5, 2}, torch::kFloat64);
  const auto linear = [](const Layer& layer, const torch::Tensor& input) {
    return torch::matmul(input, layer->weight().t()) + layer->bias();
  };
  const auto& l = network.layers();
  const auto u = torch::sin(linear(network.encoder_u(), x));
  const auto v = torch::sin(linear(network.encoder_v(), x));
  auto h = torch::sin(linear(l[0], x));
  for (int k = 1; k <= 2; ++k) {
    const auto z = torch::sin(linear(l[k], h));
    h = (1 - z) * u + z * v;
  }
  const auto expected = torch::sigmoid(linear(l[3], h));
  EXPECT_TRUE(torch::allclose(network.forward(x), expected, 1e-12, 1e-12));
}

TEST(Network, ResNetBlockWithZeroSecondLayerIsTheIdentity) {
  torch::manual_seed(8);
  ResNetOptions options;
  options.inputs = 3;
  options.outputs = 2;
  options.width = 5;
  options.blocks = 2;
  ResNet network(options);
  network.to(torch::kFloat64);
  ASSERT_EQ(network.blocks().size(), 2u);
  EXPECT_EQ(parameter_count(network), (3 * 5 + 5) + 2 * 2 * (5 * 5 + 5) + (5 * 2 + 2));
  const auto h = torch::randn({4, 5}, torch::kFloat64);
  // A generic block is not the identity; with zero second-layer weights (and bias) it is.
  EXPECT_FALSE(torch::allclose(network.block_forward(0, h), h));
  {
    torch::NoGradGuard no_grad;
    for (const auto& block : network.blocks()) {
      block.second->weight().zero_();
      block.second->bias().zero_();
    }
  }
  EXPECT_TRUE(torch::equal(network.block_forward(0, h), h));
  EXPECT_TRUE(torch::equal(network.block_forward(1, h), h));
  // Then the whole network is the input and output layers composed.
  const auto x = torch::randn({4, 3}, torch::kFloat64);
  const auto& in = network.input_layer();
  const auto& out = network.output_layer();
  const auto expected =
      torch::matmul(torch::matmul(x, in->weight().t()) + in->bias(), out->weight().t()) +
      out->bias();
  EXPECT_TRUE(torch::allclose(network.forward(x), expected, 1e-12, 1e-12));
}

// A factorized layer starts as the plain one would (the same draw of W, then V = diag(exp(-s)) W)
// with s ~ N(mean, std²), and its weight is diag(exp(s)) V; the direct gradient of W reaches s
// and V as autograd's does.
TEST(Dense, FactorizationStartsAsThePlainLayerAndChainsTheGradient) {
  const auto init = [](torch::Tensor& w, double gain) { torch::nn::init::xavier_normal_(w, gain); };
  Dense plain(30, 400, std::nullopt);
  Dense factorized(30, 400, FactorizationOptions{1.0, 0.1});
  plain.to(torch::kFloat64);
  factorized.to(torch::kFloat64);
  torch::manual_seed(3);
  plain.initialize(init, 1.0);
  torch::manual_seed(3);
  factorized.initialize(init, 1.0);
  EXPECT_LT((factorized.weight() - plain.weight()).abs().max().item<double>(), 1e-14);
  const auto s = factorized.named_parameters()["s"];
  const auto v = factorized.named_parameters()["v"];
  EXPECT_NEAR(s.mean().item<double>(), 1.0, 0.02);
  EXPECT_NEAR(s.std().item<double>(), 0.1, 0.01);
  EXPECT_TRUE(torch::equal(factorized.weight(), s.exp().unsqueeze(1) * v));
  EXPECT_FALSE(plain.factorized());
  EXPECT_TRUE(factorized.factorized());

  const auto x = torch::randn({7, 30}, torch::kFloat64);
  const auto g = torch::randn({7, 400}, torch::kFloat64);
  (factorized.forward(x) * g).sum().backward();
  const auto expected_s = s.grad().clone(), expected_v = v.grad().clone();
  const auto expected_b = factorized.bias().grad().clone();
  factorized.take_gradient(torch::mm(g.t(), x), g.sum(0), /*replace=*/true);
  EXPECT_LT((s.grad() - expected_s).abs().max().item<double>(), 1e-12);
  EXPECT_LT((v.grad() - expected_v).abs().max().item<double>(), 1e-12);
  EXPECT_LT((factorized.bias().grad() - expected_b).abs().max().item<double>(), 1e-12);
  factorized.take_gradient(torch::mm(g.t(), x), g.sum(0), /*replace=*/false);
  EXPECT_LT((s.grad() - 2 * expected_s).abs().max().item<double>(), 1e-12);
}

// "periodic" and "rwf" from the config: the embedding's width, the factorized layers' names, and
// bad input (an input the problem does not have, a non-positive period, an unknown key).
TEST(Network, PeriodicAndFactorizationFromTheConfig) {
  auto document =
      Document::from_json(Json::parse(R"({"network": {"hidden": [6], "periodic": {"x": 2.0},
                      "rwf": {"mean": 0.5, "std": 0.05}}})"),
                          "n.json");
  Reader top(document, Pointer());
  Reader reader = top.object("network");
  auto network = make_network(reader, 2, 1, {"t", "x"});
  auto* mlp = dynamic_cast<Mlp*>(network.get());
  ASSERT_NE(mlp, nullptr);
  ASSERT_NE(mlp->periodic(), nullptr);
  EXPECT_EQ(mlp->periodic()->output_width(), 3);
  EXPECT_EQ(mlp->layers()[0]->in_features(), 3);
  const auto names = network->named_parameters().keys();
  EXPECT_NE(std::find(names.begin(), names.end(), "layer0.s"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "layer1.v"), names.end());
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {R"({"network": {"periodic": {"y": 2.0}}})", "/network/periodic"},
           {R"({"network": {"periodic": {"x": -1}}})", "/network/periodic/x"},
           {R"({"network": {"periodic": {}}})", "/network/periodic"},
           {R"({"network": {"rwf": {"mean": 1, "sd": 0.1}}})", "/network/rwf"}}) {
    auto bad = Document::from_json(Json::parse(text), "n.json");
    Reader bad_top(bad, Pointer());
    Reader bad_reader = bad_top.object("network");
    try {
      make_network(bad_reader, 2, 1, {"t", "x"});
      ADD_FAILURE() << text;
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << error.what();
    }
  }
}

TEST(Network, BadOptionsAreInputErrors) {
  auto message = expect_input_error(R"({"network": {"type": "modified_mlp", "hidden": [8, 4]}})");
  EXPECT_NE(message.find("/network/hidden"), std::string::npos) << message;
  EXPECT_NE(message.find("equal"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"type": "modified_mlp", "hidden": [8]}})");
  EXPECT_NE(message.find("/network/hidden"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"fourier_features": {"count": -4}}})");
  EXPECT_NE(message.find("/network/fourier_features/count"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"fourier_features": {"count": 0}}})");
  EXPECT_NE(message.find("/network/fourier_features/count"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"fourier_features": {"scale": -1.0}}})");
  EXPECT_NE(message.find("/network/fourier_features/scale"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"fourier_features": {"sclae": 2}}})");
  EXPECT_NE(message.find("did you mean 'scale'?"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"fourier_features": 16}})");
  EXPECT_NE(message.find("/network/fourier_features"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"type": "resnet", "hidden": [8, 8]}})");
  EXPECT_NE(message.find("/network/hidden"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"type": "resnet", "blocks": 0}})");
  EXPECT_NE(message.find("/network/blocks"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"type": "resnet", "width": -3}})");
  EXPECT_NE(message.find("/network/width"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"type": "mlp", "width": 3}})");
  EXPECT_NE(message.find("unknown key 'width'"), std::string::npos) << message;
  message = expect_input_error(R"({"network": {"type": "resent"}})");
  EXPECT_NE(message.find("did you mean 'resnet'?"), std::string::npos) << message;
}

TEST(ModelFile, FourierMatrixAndNewTypesLoadBackExactly) {
  const auto path = std::filesystem::temp_directory_path() / "pinn_model_new_types.pt";
  for (const char* json : kNetworkConfigs) {
    torch::manual_seed(10);
    auto saved = build(json, 2, 2);
    saved->to(torch::kFloat64);
    output::save_model(path, *saved, describe(Json{{"type", "x"}}, {"x", "y"}, {"u", "v"}));
    torch::manual_seed(11);
    auto loaded = build(json, 2, 2);
    loaded->to(torch::kFloat64);
    output::load_model_weights(path, *loaded);
    const auto x = torch::randn({5, 2}, torch::kFloat64);
    EXPECT_TRUE(torch::equal(loaded->forward(x), saved->forward(x))) << json;
  }
}

TEST(ModelFile, SavedWeightsLoadBackExactly) {
  MlpOptions options;
  options.inputs = 2;
  options.hidden = {4};
  Mlp saved(options);
  saved.to(torch::kFloat64);
  const auto path = std::filesystem::temp_directory_path() / "pinn_model.pt";
  output::save_model(path, saved, describe(Json{{"type", "mlp"}}, {"x", "y"}, {"u"}));
  Mlp loaded(options);
  loaded.to(torch::kFloat64);
  EXPECT_FALSE(torch::equal(loaded.layers()[0]->weight(), saved.layers()[0]->weight()));
  output::load_model_weights(path, loaded);
  const auto x = torch::randn({5, 2}, torch::kFloat64);
  EXPECT_TRUE(torch::equal(loaded.forward(x), saved.forward(x)));

  options.hidden = {5};
  Mlp other(options);
  EXPECT_THROW(output::load_model_weights(path, other), InputError);
}

TEST(RunDirectory, RefusesToReplaceWithoutForceAndOnlyReplacesRuns) {
  namespace fs = std::filesystem;
  const auto root = fs::temp_directory_path() / "pinn_run_dir_test";
  remove_tree(root);
  {
    auto run = output::RunDirectory::create(root / "run", false);
    run.write_json("config.json", Json::object());
    // While `run` holds the directory's lock, nobody else may write it, --force or not.
    EXPECT_THROW(output::RunDirectory::create(root / "run", true), InputError);
  }
  EXPECT_THROW(output::RunDirectory::create(root / "run", false), InputError);
  EXPECT_NO_THROW(output::RunDirectory::create(root / "run", true));
  EXPECT_FALSE(fs::exists(root / "run" / "config.json"));  // replaced by a fresh directory
  fs::create_directories(root / "precious");
  std::ofstream(root / "precious" / "thesis.tex") << "do not delete";
  EXPECT_THROW(output::RunDirectory::create(root / "precious", true), InputError);
  EXPECT_TRUE(fs::exists(root / "precious" / "thesis.tex"));
  // A run directory with a file of the user's is not cleared either.
  std::ofstream(root / "run" / "notes.txt") << "mine";
  EXPECT_THROW(output::RunDirectory::create(root / "run", true), InputError);
  EXPECT_TRUE(fs::exists(root / "run" / "notes.txt"));
  EXPECT_EQ(output::foreign_entries(root / "run", output::run_layout()),
            std::vector<std::string>{"notes.txt"});
}

}  // namespace
}  // namespace pinn::model
