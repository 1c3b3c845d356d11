// Unit tests of derivatives/: both engines against closed-form derivatives, against each other
// on random MLPs of every activation (float64, orders 1-4, mixed partials), and the parameter
// gradients of a loss built from their channels.
#include <gtest/gtest.h>
#include "support.hpp"

#include "derivatives/engine.hpp"
#include "expr/expression.hpp"
#include "model/activation.hpp"
#include "model/network.hpp"

namespace pinn::derivatives {
namespace {

using testing_support::all_channels;

using expr::Channel;

// u = sin(x) * exp(y), v = x^2 * y^3: a "network" whose derivatives are known in closed form.
class ClosedForm : public model::Network {
 public:
  torch::Tensor forward(const torch::Tensor& p) override {
    const auto x = p.select(1, 0), y = p.select(1, 1);
    return torch::stack({torch::sin(x) * torch::exp(y), x * x * y * y * y}, 1);
  }
  int smooth_orders() const override { return 100; }
};

torch::Tensor closed_form(const Channel& c, const torch::Tensor& p) {
  const auto x = p.select(1, 0), y = p.select(1, 1);
  int nx = 0, ny = 0;
  for (int i : c.wrt)
    (i == 0 ? nx : ny)++;
  if (c.output == 0) {
    // d^nx/dx^nx sin(x) cycles sin, cos, -sin, -cos; every y-derivative of exp(y) is exp(y).
    const torch::Tensor cycle[] = {torch::sin(x), torch::cos(x), -torch::sin(x), -torch::cos(x)};
    return cycle[nx % 4] * torch::exp(y);
  }
  const auto power_derivative = [](const torch::Tensor& t, int power, int order) {
    if (order > power) return torch::zeros_like(t);
    double factor = 1;
    for (int k = 0; k < order; ++k)
      factor *= power - k;
    return factor * torch::pow(t, power - order);
  };
  return power_derivative(x, 2, nx) * power_derivative(y, 3, ny);
}

double max_relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs() / (1 + b.abs())).max().item<double>();
}

torch::Tensor random_points(int64_t n, int64_t d) {
  return torch::randn({n, d}, torch::kFloat64);
}

class EngineTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineTest, MatchesClosedFormsToOrderFour) {
  torch::manual_seed(1);
  ClosedForm network;
  const auto points = random_points(64, 2);
  const auto channels = all_channels(2, 2, 4);
  auto engine = make_engine(GetParam(), network);
  const auto values = engine->compute(points, channels, /*create_graph=*/false);
  for (const auto& channel : channels) {
    const auto expected = closed_form(channel, points);
    EXPECT_LT(max_relative_difference(values.at(channel), expected), 1e-12)
        << GetParam() << " channel " << expr::channel_name(channel, {"x", "y"}, {"u", "v"});
  }
}

TEST_P(EngineTest, ComputesOnlyAValueWithoutDerivatives) {
  ClosedForm network;
  const auto points = random_points(8, 2);
  auto engine = make_engine(GetParam(), network);
  const auto values = engine->compute(points, {Channel{1, {}}}, false);
  EXPECT_LT(max_relative_difference(values.at(Channel{1, {}}), closed_form({1, {}}, points)),
            1e-15);
}

INSTANTIATE_TEST_SUITE_P(Engines, EngineTest, ::testing::ValuesIn(engine_names()));

class ActivationAgreement : public ::testing::TestWithParam<std::string> {};

// forward and autograd agree on every channel up to order 4 and on the weight gradients.
TEST_P(ActivationAgreement, ForwardEqualsAutogradOnRandomMlps) {
  for (int inputs : {1, 2, 3}) {
    torch::manual_seed(7 + inputs);
    model::MlpOptions options;
    options.inputs = inputs;
    options.outputs = 2;
    options.hidden = {8, 8};
    options.activation = GetParam();
    options.output_activation = GetParam() == "relu" ? "identity" : GetParam();
    model::Mlp network(options);
    network.to(torch::kFloat64);
    const auto points = random_points(32, inputs);
    const int max_order = inputs == 3 ? 3 : 4;
    const auto channels = all_channels(2, inputs, max_order);

    auto reference = make_engine("autograd", network);
    auto forward = make_engine("forward", network);
    const auto expected = reference->compute(points, channels, true);
    const auto actual = forward->compute(points, channels, true);
    for (const auto& channel : channels) {
      EXPECT_LT(max_relative_difference(actual.at(channel), expected.at(channel)), 1e-10)
          << GetParam() << " d=" << inputs << " channel output " << channel.output << " order "
          << channel.order();
    }

    // A loss built from every channel: its weight gradients must agree as well.
    auto loss_gradients = [&](const ChannelMap& values) {
      torch::Tensor loss = torch::zeros({}, torch::kFloat64);
      for (const auto& entry : values)
        loss = loss + entry.second.square().mean();
      auto grads = torch::autograd::grad({loss}, network.parameters(), {}, true, false, true);
      for (size_t i = 0; i < grads.size(); ++i) {
        if (!grads[i].defined()) grads[i] = torch::zeros_like(network.parameters()[i]);
      }
      return grads;
    };
    const auto expected_grads = loss_gradients(expected);
    const auto actual_grads = loss_gradients(actual);
    for (size_t i = 0; i < expected_grads.size(); ++i) {
      EXPECT_LT(max_relative_difference(actual_grads[i], expected_grads[i]), 1e-10)
          << GetParam() << " d=" << inputs << " parameter " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Activations, ActivationAgreement,
                         ::testing::ValuesIn(model::activation_names()));

// The operators of the expression language, on top of each engine, against closed forms.
TEST_P(EngineTest, OperatorsMatchClosedForms) {
  ClosedForm network;
  const expr::Symbols symbols{{"x", "y"}, {"u", "v"}, {}, {}, {}};
  const auto points = random_points(32, 2);
  const auto x = points.select(1, 0), y = points.select(1, 1);
  const std::vector<std::pair<std::string, torch::Tensor>> cases = {
      {"u_x", torch::cos(x) * torch::exp(y)},
      {"u_xy", torch::cos(x) * torch::exp(y)},
      {"d(v, x, y, y)", 12 * x * y},
      {"dir(u, [1, 0])", torch::cos(x) * torch::exp(y)},
      {"dir(v, [y, -x])", y * 2 * x * y.pow(3) - x * 3 * x.pow(2) * y.pow(2)},
      {"lap(u)", torch::zeros_like(x)},
      {"lap(v)", 2 * y.pow(3) + 6 * x.pow(2) * y},
      {"v_xx * u + u_yy",
       2 * y.pow(3) * torch::sin(x) * torch::exp(y) + torch::sin(x) * torch::exp(y)},
  };
  auto engine = make_engine(GetParam(), network);
  for (const auto& [text, expected] : cases) {
    const auto node = expr::parse(text, symbols);
    std::set<Channel> channels;
    expr::collect_channels(*node, channels);
    const auto values = engine->compute(points, channels, false);
    const auto actual = expr::evaluate(*node, expr::EvalContext{points, &values});
    EXPECT_LT(max_relative_difference(actual, expected), 1e-12) << GetParam() << ": " << text;
  }
}

// The other network types and the Fourier embedding: forward and autograd agree on u_x, u_xx,
// u_xy (of both outputs) and on the trainable-weight gradients of a loss built from them.
TEST(NetworkTypeAgreement, ForwardEqualsAutogradOnEveryNetworkType) {
  model::FourierOptions fourier;
  fourier.count = 4;
  fourier.scale = 0.7;
  std::vector<std::pair<std::string, std::shared_ptr<model::Network>>> networks;
  for (bool embedded : {false, true}) {
    const std::string suffix = embedded ? " + fourier" : "";
    torch::manual_seed(21);
    using Fourier = std::optional<model::FourierOptions>;
    const auto modified =
        testing_support::small_modified_mlp({6, 6, 6}, embedded ? Fourier{fourier} : Fourier{});
    networks.emplace_back("modified_mlp" + suffix, std::make_shared<model::ModifiedMlp>(modified));
    if (embedded) fourier.trainable = true;
    const auto resnet = testing_support::small_resnet(embedded ? Fourier{fourier} : Fourier{});
    networks.emplace_back("resnet" + suffix, std::make_shared<model::ResNet>(resnet));
  }
  model::MlpOptions mlp;
  mlp.inputs = 2;
  mlp.outputs = 2;
  mlp.hidden = {6, 6};
  mlp.fourier = fourier;
  networks.emplace_back("mlp + fourier", std::make_shared<model::Mlp>(mlp));

  std::set<Channel> channels;
  for (int o = 0; o < 2; ++o) {
    channels.insert({o, {0}});
    channels.insert({o, {0, 0}});
    channels.insert({o, {0, 1}});
  }
  for (auto& [name, network] : networks) {
    network->to(torch::kFloat64);
    const auto points = random_points(32, 2);
    const auto expected = make_engine("autograd", *network)->compute(points, channels, true);
    const auto actual = make_engine("forward", *network)->compute(points, channels, true);
    for (const auto& channel : channels) {
      EXPECT_LT(max_relative_difference(actual.at(channel), expected.at(channel)), 1e-10)
          << name << " " << expr::channel_name(channel, {"x", "y"}, {"u", "v"});
    }
    std::vector<torch::Tensor> trainable;
    for (const auto& parameter : network->parameters()) {
      if (parameter.requires_grad()) trainable.push_back(parameter);
    }
    auto loss_gradients = [&](const ChannelMap& values) {
      torch::Tensor loss = torch::zeros({}, torch::kFloat64);
      for (const auto& entry : values)
        loss = loss + entry.second.square().mean();
      return torch::autograd::grad({loss}, trainable, {}, true, false, true);
    };
    const auto expected_grads = loss_gradients(expected);
    const auto actual_grads = loss_gradients(actual);
    for (size_t i = 0; i < expected_grads.size(); ++i) {
      ASSERT_TRUE(expected_grads[i].defined() && actual_grads[i].defined()) << name << " " << i;
      EXPECT_LT(max_relative_difference(actual_grads[i], expected_grads[i]), 1e-10)
          << name << " parameter " << i;
    }
  }
}

}  // namespace
}  // namespace pinn::derivatives
