// Unit tests of model/ and output/: the MLP, its factory, and model.pt round trips.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/reader.hpp"
#include "model/activation.hpp"
#include "model/network.hpp"
#include "output/run_directory.hpp"
#include "util/errors.hpp"

namespace pinn::model {
namespace {

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
  EXPECT_THROW(activation("nope"), std::out_of_range);
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

TEST(ModelFile, SavedWeightsLoadBackExactly) {
  MlpOptions options;
  options.inputs = 2;
  options.hidden = {4};
  Mlp saved(options);
  saved.to(torch::kFloat64);
  const auto path = std::filesystem::temp_directory_path() / "pinn_model.pt";
  output::save_model(path, saved, Json{{"type", "mlp"}}, {"x", "y"}, {"u"});
  Mlp loaded(options);
  loaded.to(torch::kFloat64);
  EXPECT_FALSE(torch::equal(loaded.layers()[0]->weight, saved.layers()[0]->weight));
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
  fs::remove_all(root);
  auto run = output::RunDirectory::create(root / "run", false);
  run.write_json("config.json", Json::object());
  EXPECT_THROW(output::RunDirectory::create(root / "run", false), InputError);
  EXPECT_NO_THROW(output::RunDirectory::create(root / "run", true));
  EXPECT_FALSE(fs::exists(root / "run" / "config.json"));  // replaced by a fresh directory
  fs::create_directories(root / "precious");
  std::ofstream(root / "precious" / "thesis.tex") << "do not delete";
  EXPECT_THROW(output::RunDirectory::create(root / "precious", true), InputError);
  EXPECT_TRUE(fs::exists(root / "precious" / "thesis.tex"));
}

}  // namespace
}  // namespace pinn::model
