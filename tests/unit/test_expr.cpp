// Unit tests of expr/: parsing (precedence, names, derivative operators), constant folding,
// evaluation against hand-computed values, channel collection, and every parse error's column.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "expr/expression.hpp"
#include "expr/pointwise.hpp"

namespace pinn::expr {
namespace {

const Symbols kSymbols{{"x", "y"}, {"u", "v"}, {{"nu", 0.01}, {"k", 3.0}}, {}, {}};

class Evaluation : public ::testing::Test {
 protected:
  void SetUp() override {
    torch::manual_seed(3);
    points = torch::rand({16, 2}, torch::kFloat64) + 0.5;  // positive: log and sqrt are defined
    x = points.select(1, 0);
    y = points.select(1, 1);
    // Channels as if from a network u = sin(x) exp(y), v = x^2 y.
    channels[{0, {}}] = torch::sin(x) * torch::exp(y);
    channels[{0, {0}}] = torch::cos(x) * torch::exp(y);
    channels[{0, {1}}] = torch::sin(x) * torch::exp(y);
    channels[{0, {0, 0}}] = -torch::sin(x) * torch::exp(y);
    channels[{0, {0, 1}}] = torch::cos(x) * torch::exp(y);
    channels[{0, {1, 1}}] = torch::sin(x) * torch::exp(y);
    channels[{1, {}}] = x * x * y;
    channels[{1, {0}}] = 2 * x * y;
    channels[{1, {1}}] = x * x;
    channels[{0, {}, {0, 1}}] = torch::zeros_like(x);  // lap(u): a summed Laplacian channel
  }

  torch::Tensor eval(const std::string& text) {
    return evaluate(*parse(text, kSymbols), EvalContext{points, &channels});
  }
  void expect_equal(const std::string& text, const torch::Tensor& expected) {
    const auto actual = eval(text);
    ASSERT_EQ(actual.sizes(), expected.sizes()) << text;
    EXPECT_LT((actual - expected).abs().max().item<double>(), 1e-13) << text;
  }

  torch::Tensor points, x, y;
  std::map<Channel, torch::Tensor> channels;
};

double folded(const std::string& text) {
  const auto node = parse(text, kSymbols);
  EXPECT_EQ(node->kind, Node::Kind::Number) << text;
  return node->number;
}

TEST(Parse, PrecedenceAndAssociativityFoldToTheRightNumbers) {
  EXPECT_DOUBLE_EQ(folded("1 + 2 * 3"), 7);
  EXPECT_DOUBLE_EQ(folded("-2^2"), -4);
  EXPECT_DOUBLE_EQ(folded("2^3^2"), 512);
  EXPECT_DOUBLE_EQ(folded("2^-1"), 0.5);
  EXPECT_DOUBLE_EQ(folded("10 - 4 - 3"), 3);
  EXPECT_DOUBLE_EQ(folded("8 / 4 / 2"), 1);
  EXPECT_DOUBLE_EQ(folded("(1 + 2) * 3"), 9);
  EXPECT_DOUBLE_EQ(folded("+-+3"), -3);
  EXPECT_DOUBLE_EQ(folded(".5e1 + 1E-1"), 5.1);
  EXPECT_DOUBLE_EQ(folded("nu * 100"), 1);
  EXPECT_DOUBLE_EQ(folded("cos(pi)"), -1);
  EXPECT_DOUBLE_EQ(folded("sqrt(k^2 + 16)"), 5);
}

TEST(Parse, SubscriptsAndOperatorsResolveToChannels) {
  std::set<Channel> found;
  collect_channels(*parse("u_yx + d(u, x, y) + d(u_x, y) + d(d(u, y), x)", kSymbols), found);
  EXPECT_EQ(found, (std::set<Channel>{{0, {0, 1}}}));
  found.clear();
  collect_channels(*parse("lap(v) + dir(u, [1, x]) + u", kSymbols), found);
  // lap() of an output is one summed channel; of one input, or of a derivative, its terms.
  EXPECT_EQ(found, (std::set<Channel>{{1, {}, {0, 1}}, {0, {0}}, {0, {1}}, {0, {}}}));
  found.clear();
  collect_channels(*parse("lap(u, x) + lap(u_y, y, x)", kSymbols), found);
  EXPECT_EQ(found, (std::set<Channel>{{0, {0, 0}}, {0, {0, 0, 1}}, {0, {1, 1, 1}}}));
  EXPECT_EQ(channel_name({1, {}, {0, 1}}, kSymbols.inputs, kSymbols.outputs), "lap(v,x,y)");
  found.clear();
  collect_channels(*parse("dir(u, [0, 0]) + x", kSymbols), found);
  EXPECT_TRUE(found.empty());
  EXPECT_EQ(to_string(*parse("u_t", Symbols{{"x", "t"}, {"u"}, {}, {}, {}}),
                      Symbols{{"x", "t"}, {"u"}, {}, {}, {}}),
            "u_t");
  EXPECT_EQ(to_string(*parse("u_x + 2*v", kSymbols), kSymbols), "(u_x + (2 * v))");
}

TEST(Parse, LongInputNamesUseD) {
  const Symbols symbols{{"x1", "x2"}, {"u"}, {}, {}, {}};
  std::set<Channel> found;
  collect_channels(*parse("d(u, x1, x2) + d(u, x2, x1)", symbols), found);
  EXPECT_EQ(found, (std::set<Channel>{{0, {0, 1}}}));
  EXPECT_EQ(channel_name({0, {0, 1}}, symbols.inputs, symbols.outputs), "d(u,x1,x2)");
  try {
    parse("u_x1", symbols);
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.column(), 1);
    EXPECT_NE(std::string(e.what()).find("d(u, x1, x2)"), std::string::npos) << e.what();
  }
}

TEST_F(Evaluation, ArithmeticFunctionsAndInputs) {
  expect_equal("x + y * 2", x + y * 2);
  expect_equal("-x^2", -(x * x));
  expect_equal("x^y", torch::pow(x, y));
  expect_equal("x / y - 1", x / y - 1);
  expect_equal("sin(x) + cos(y) + tan(x) + exp(y) + log(x) + sqrt(y) + abs(-x)",
               torch::sin(x) + torch::cos(y) + torch::tan(x) + torch::exp(y) + torch::log(x) +
                   torch::sqrt(y) + x);
  expect_equal("tanh(x) * sinh(y) / cosh(x)", torch::tanh(x) * torch::sinh(y) / torch::cosh(x));
  expect_equal("pi * nu", torch::full({16}, M_PI * 0.01, torch::kFloat64));
  expect_equal("2", torch::full({16}, 2.0, torch::kFloat64));  // constants give one value per point
}

TEST_F(Evaluation, DerivativeOperators) {
  expect_equal("u_x", channels[{0, {0}}]);
  expect_equal("u_yx", channels[{0, {0, 1}}]);
  expect_equal("d(u, x, x)", channels[{0, {0, 0}}]);
  expect_equal("dir(u, [1, 0])", channels[{0, {0}}]);
  expect_equal("dir(v, [y, -x])", y * 2 * x * y - x * x * x);
  expect_equal("dir(u, [0.5, 2])", 0.5 * channels[{0, {0}}] + 2 * channels[{0, {1}}]);
  expect_equal("lap(u)", torch::zeros_like(x));
}

struct ErrorCase {
  std::string text;
  int column;
  std::string message;
};

class ParseErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParseErrors, NameTheColumnAndTheProblem) {
  const auto& c = GetParam();
  try {
    parse(c.text, kSymbols);
    FAIL() << "no error for " << c.text;
  } catch (const ParseError& e) {
    EXPECT_EQ(e.column(), c.column) << c.text << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseErrors,
    ::testing::Values(
        ErrorCase{"", 1, "empty expression"}, ErrorCase{"u +", 4, "but found end of expression"},
        ErrorCase{"(u + 1", 7, "expected ')' but found end of expression"},
        ErrorCase{"u $ 2", 3, "unexpected character '$'"},
        ErrorCase{"u * * 2", 5, "expected a number, name or '(' but found '*'"},
        ErrorCase{"u x", 3, "unexpected 'x' after the end of the expression"},
        ErrorCase{"u_x + uu", 7, "unknown name 'uu' (did you mean 'u'?)"},
        ErrorCase{"sinn(x)", 1, "unknown function 'sinn' (did you mean 'sin'?)"},
        ErrorCase{"1 + x(2)", 5, "'x' is not a function"},
        ErrorCase{"sin + 1", 1, "'sin' is a function"},
        ErrorCase{"sin(x, y)", 6, "takes one argument"},
        ErrorCase{"d(u, nu)", 6, "cannot differentiate with respect to 'nu': not an input"},
        ErrorCase{"d(sin(u), x)", 3, "'sin(u)' is not an output or a derivative of one"},
        ErrorCase{"lap(x)", 5, "'x' is not an output"}, ErrorCase{"d(u)", 4, "d(u, x)"},
        ErrorCase{"dir(u, [1])", 8, "one entry per input (2), found 1"},
        ErrorCase{"u_z", 1, "subscript derivative"}, ErrorCase{"u_", 1, "unknown name 'u_'"},
        ErrorCase{"1 + d(lap(u), x)", 7, "write the Laplacian of the derivative, e.g. lap(u_x)"},
        ErrorCase{"lap(lap(u))", 5, "a summed Laplacian cannot be differentiated further"},
        ErrorCase{"lap(u, x, x)", 1, "lap() names an input twice"},
        ErrorCase{"u + 1e999", 5, "the number 1e999 is outside the range of a double"}));

// ---- limits: what would overflow the stack or explode the engine is an error at a column ----

std::string repeated(const std::string& piece, size_t times) {
  std::string text;
  for (size_t i = 0; i < times; ++i)
    text += piece;
  return text;
}

// The column and message of the ParseError `text` raises.
std::pair<int, std::string> parse_error(const std::string& text) {
  try {
    parse(text, kSymbols);
  } catch (const ParseError& e) {
    return {e.column(), e.what()};
  }
  return {0, "no error"};
}

TEST(ParseLimits, NestingBeyondTheDepthLimitIsAnErrorNotAStackOverflow) {
  const int limit = kMaxExpressionDepth;
  // Tens of thousands of levels (within the length limit): parentheses, unary minus, a power
  // chain, nested calls; each would overflow the stack of a parser without a bound.
  const std::vector<std::string> deep = {repeated("(", 45000) + "u" + repeated(")", 45000),
                                         repeated("-", 99000) + "u", repeated("u^", 49000) + "u",
                                         repeated("sin(", 19000) + "u" + repeated(")", 19000)};
  for (const auto& text : deep) {
    const auto [column, message] = parse_error(text);
    EXPECT_GT(column, 0) << message;
    EXPECT_LE(column, 4 * limit + 1) << message;
    EXPECT_NE(message.find("nested more than 1000 levels"), std::string::npos) << message;
  }
  // Just within the limit it parses (and folds: -(-(...(-2)))) = 2 for an even count).
  const auto node = parse(repeated("(", limit - 1) + "2" + repeated(")", limit - 1), kSymbols);
  EXPECT_DOUBLE_EQ(node->number, 2.0);
}

TEST(ParseLimits, ALongSumCountsOneLevelPerTermAndALongTextIsRefused) {
  // 1 MB of "u + u + ...": longer than the limit on the text.
  const auto [column, message] = parse_error("u" + repeated(" + u", 250000));
  EXPECT_EQ(column, static_cast<int>(kMaxExpressionLength) + 1);
  EXPECT_NE(message.find("characters long; at most 100000"), std::string::npos) << message;
  // Within the length, 2000 terms nest 2000 deep: refused at the term that passes the limit.
  const auto [sum_column, sum_message] = parse_error("u" + repeated("+u", 1999));
  EXPECT_EQ(sum_column, 2 * kMaxExpressionDepth) << sum_message;
  const auto [product_column, product_message] = parse_error("u" + repeated("*u", 1999));
  EXPECT_EQ(product_column, 2 * kMaxExpressionDepth) << product_message;
  // 999 terms are fine, and evaluate to 999 u (the tree's depth is within every recursion).
  torch::Tensor points = torch::rand({4, 2}, torch::kFloat64);
  std::map<Channel, torch::Tensor> channels{{{0, {}}, points.select(1, 0) + 1}};
  const auto value =
      evaluate(*parse("u" + repeated("+u", 998), kSymbols), EvalContext{points, &channels});
  EXPECT_LT((value - 999 * channels.at({0, {}})).abs().max().item<double>(), 1e-10);
  // Numbers fold: a long sum of constants is one node.
  EXPECT_EQ(parse("1" + repeated("+1", 5000), kSymbols)->number, 5001);
}

TEST(ParseLimits, DerivativesOfOrderAboveEightAreRefusedAtTheirColumn) {
  EXPECT_EQ(parse("d(u, x, x, x, x, y, y, y, y)", kSymbols)->channel.order(), 8);
  EXPECT_EQ(parse("u_xxxxyyyy", kSymbols)->channel.order(), 8);
  const std::string ninth = "u_x + d(u, x, x, x, x, y, y, y, y, x)";
  auto [column, message] = parse_error(ninth);
  EXPECT_EQ(column, static_cast<int>(ninth.rfind('x')) + 1) << message;  // the ninth input
  EXPECT_NE(message.find("a derivative of order 9: pinn-train computes derivatives up to order 8"),
            std::string::npos)
      << message;
  std::tie(column, message) = parse_error("1 + u_xxxxxxxxxxxxx");  // 13 letters
  EXPECT_EQ(column, 5) << message;
  EXPECT_NE(message.find("order 9"), std::string::npos) << message;
  // Order 1000 answers at once (the engine would enumerate the partitions of 1000).
  std::tie(column, message) = parse_error("u_" + repeated("x", 1000));
  EXPECT_EQ(column, 1) << message;
  std::tie(column, message) = parse_error("lap(u_xxxxxxx)");
  EXPECT_NE(message.find("order 9"), std::string::npos) << message;
  std::tie(column, message) = parse_error("dir(d(u, x, x, x, x, x, x, x, x), [1, 0])");
  EXPECT_NE(message.find("order 9"), std::string::npos) << message;
}

// ---- the pointwise program (the fused loss's residuals) against evaluate() and autograd ----

// scale · Σ r² and its gradient with respect to each channel, by tensors and autograd.
struct SquaresByAutograd {
  double sum;
  std::map<Channel, torch::Tensor> gradients;
};

SquaresByAutograd squares_by_autograd(const Node& root, const torch::Tensor& points,
                                      const std::map<Channel, torch::Tensor>& channels,
                                      const std::map<std::string, torch::Tensor>& fields,
                                      double scale) {
  std::map<Channel, torch::Tensor> leaves;
  std::vector<torch::Tensor> list;
  for (const auto& [channel, values] : channels) {
    leaves[channel] = values.detach().clone().requires_grad_(true);
    list.push_back(leaves[channel]);
  }
  const auto r = evaluate(root, EvalContext{points, &leaves, &fields});
  const auto loss = scale * r.square().sum();
  SquaresByAutograd result{r.square().sum().item<double>(), {}};
  if (!loss.requires_grad()) return result;  // reads no channel
  const auto grads = torch::autograd::grad({loss}, list, {}, false, false, /*allow_unused=*/true);
  size_t i = 0;
  for (const auto& entry : leaves) {
    result.gradients[entry.first] = grads[i].defined() ? grads[i] : torch::zeros_like(entry.second);
    ++i;
  }
  return result;
}

TEST(Pointwise, EqualsEvaluateAndAutogradOnEveryOperationOverTiles) {
  const Symbols symbols{{"x", "y"}, {"u", "v"}, {{"nu", 0.05}}, {}, {"n_x", "g"}};
  torch::manual_seed(11);
  const int64_t n = 16, stride = 3;
  const auto points = torch::rand({n, 2}, torch::kFloat64);
  const std::map<std::string, torch::Tensor> fields = {
      {"n_x", torch::rand({n}, torch::kFloat64) - 0.5}, {"g", torch::rand({n}, torch::kFloat64)}};
  const std::vector<std::string> texts = {
      "u_x + u*u_y - nu*u_xx",
      "sin(u)*cos(v) + tan(0.3*u) - exp(-u_x)",
      "log(u) + sqrt(v) + abs(u_y - 0.9) + tanh(u)*sinh(v) - cosh(u_x)",
      "u/v - (u_x)^3 + v^2 + u^v + x*y",
      "n_x*u_x + g - lap(u,x,y)",
      "-u + 2",
      "x^2 + sin(y)",
  };
  const double scale = 0.37;
  for (const auto& text : texts) {
    const auto root = parse(text, symbols);
    const auto program = PointwiseProgram::compile(*root);
    ASSERT_TRUE(program) << text;
    // Channel values in [0.5, 1.5] (log, sqrt and u^v defined), in strided slots as in a tile.
    std::map<Channel, torch::Tensor> channels;
    std::vector<torch::Tensor> slots, adjoint_slots;
    for (const auto& channel : program->channels()) {
      channels[channel] = torch::rand({n}, torch::kFloat64) + 0.5;
      slots.push_back(torch::zeros({n, stride}, torch::kFloat64));
      slots.back().select(1, 0).copy_(channels[channel]);
      adjoint_slots.push_back(torch::zeros({n, stride}, torch::kFloat64));
    }
    const auto expected = squares_by_autograd(*root, points, channels, fields, scale);
    // Two tiles of 7 and 9 points.
    double sum = 0;
    for (const auto& [t0, count] : std::vector<std::pair<int64_t, int64_t>>{{0, 7}, {7, 9}}) {
      TileLeaves<double> leaves;
      leaves.n = count;
      leaves.points = points.data_ptr<double>() + t0 * 2;
      leaves.dims = 2;
      leaves.channel_stride = stride;
      std::vector<double*> adjoints;
      for (size_t k = 0; k < slots.size(); ++k) {
        leaves.channels.push_back(slots[k].data_ptr<double>() + t0 * stride);
        adjoints.push_back(adjoint_slots[k].data_ptr<double>() + t0 * stride);
      }
      for (const auto& name : program->fields())
        leaves.fields.push_back(fields.at(name).data_ptr<double>() + t0);
      sum += program->squares(leaves, scale, &adjoints);
    }
    EXPECT_NEAR(sum, expected.sum, 1e-12 * std::abs(expected.sum)) << text;
    for (size_t k = 0; k < slots.size(); ++k) {
      const auto& gradient = expected.gradients.at(program->channels()[k]);
      const auto actual = adjoint_slots[k].select(1, 0);
      EXPECT_LT((actual - gradient).abs().max().item<double>(),
                1e-12 * (1 + gradient.abs().max().item<double>()))
          << text;
      // The padding columns of the slots are never written.
      EXPECT_EQ(adjoint_slots[k].narrow(1, 1, stride - 1).abs().max().item<double>(), 0) << text;
    }
  }
}

TEST(Pointwise, LeavesTrainableParametersToTheTensorPath) {
  const Symbols symbols{{"x"}, {"u"}, {}, {"k"}, {}};
  EXPECT_FALSE(PointwiseProgram::compile(*parse("k*u_x - 1", symbols)));
  EXPECT_TRUE(PointwiseProgram::compile(*parse("2*u_x - 1", symbols)));
}

TEST(Pointwise, FloatProgramsMatchFloatEvaluation) {
  const Symbols symbols{{"x", "t"}, {"u"}, {{"nu", 0.003}}, {}, {}};
  const auto root = parse("u_t + u*u_x - nu*u_xx", symbols);
  const auto program = PointwiseProgram::compile(*root);
  ASSERT_TRUE(program);
  torch::manual_seed(5);
  const int64_t n = 40;
  const auto points = torch::rand({n, 2}, torch::kFloat32);
  std::map<Channel, torch::Tensor> channels;
  TileLeaves<float> leaves;
  leaves.n = n;
  leaves.points = points.data_ptr<float>();
  leaves.dims = 2;
  for (const auto& channel : program->channels()) {
    channels[channel] = torch::randn({n}, torch::kFloat32);
    leaves.channels.push_back(channels[channel].data_ptr<float>());
  }
  const double expected = evaluate(*root, EvalContext{points, &channels})
                              .to(torch::kFloat64)
                              .square()
                              .sum()
                              .item<double>();
  EXPECT_NEAR(program->squares<float>(leaves, 1.0, nullptr), expected, 1e-5 * expected);
}

}  // namespace
}  // namespace pinn::expr
