// Unit tests of expr/: parsing (precedence, names, derivative operators), constant folding,
// evaluation against hand-computed values, channel collection, and every parse error's column.
#include <gtest/gtest.h>

#include <cmath>

#include "expr/expression.hpp"

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
        ErrorCase{"u_z", 1, "subscript derivative"}, ErrorCase{"u_", 1, "unknown name 'u_'"}));

}  // namespace
}  // namespace pinn::expr
