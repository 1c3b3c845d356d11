// The expression parser: a lexer and a recursive-descent parser that resolves names and derivative
// operators (u_x, d(), dir(), dn(), lap()) into channels, folds constants, and reports the column
// of the first problem.
//
//   sum     := product (('+' | '-') product)*
//   product := unary (('*' | '/') unary)*
//   unary   := ('-' | '+') unary | power
//   power   := primary ('^' unary)?          right associative, binds tighter than unary minus
//   primary := number | name | name '(' arguments ')' | '(' sum ')'
//
// The recursion is bounded: each parenthesis, function argument, unary minus or power counts one
// level, and a node deeper than kMaxExpressionDepth is refused where it is built (expression.hpp).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>

#include "expr/expression.hpp"
#include "expr/functions.hpp"
#include "util/suggest.hpp"

namespace pinn::expr {

namespace {

struct Token {
  enum class Kind { Number, Name, Symbol, End };
  Kind kind = Kind::End;
  std::string text;
  double number = 0;
  int column = 0;  // 1-based
};

std::string describe(const Token& token) {
  switch (token.kind) {
    case Token::Kind::End:
      return "end of expression";
    case Token::Kind::Number:
      return "number " + token.text;
    default:
      return "'" + token.text + "'";
  }
}

std::vector<Token> tokenize(const std::string& text) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const int column = static_cast<int>(i) + 1;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isdigit(static_cast<unsigned char>(c)) ||
               (c == '.' && i + 1 < text.size() &&
                std::isdigit(static_cast<unsigned char>(text[i + 1])))) {
      char* end = nullptr;
      const double value = std::strtod(text.c_str() + i, &end);
      const size_t length = static_cast<size_t>(end - (text.c_str() + i));
      if (!std::isfinite(value)) {
        throw ParseError(column, "the number " + text.substr(i, length) +
                                     " is outside the range of a double (about 1.8e308)");
      }
      tokens.push_back({Token::Kind::Number, text.substr(i, length), value, column});
      i += length;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) {
        ++j;
      }
      tokens.push_back({Token::Kind::Name, text.substr(i, j - i), 0, column});
      i = j;
    } else if (std::string("+-*/^()[],").find(c) != std::string::npos) {
      tokens.push_back({Token::Kind::Symbol, std::string(1, c), 0, column});
      ++i;
    } else {
      throw ParseError(column, "unexpected character '" + std::string(1, c) + "'");
    }
  }
  tokens.push_back({Token::Kind::End, "", 0, static_cast<int>(text.size()) + 1});
  return tokens;
}

NodePtr number(double value, int column) {
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::Number;
  node->number = value;
  node->column = column;
  return node;
}

NodePtr channel_node(const Channel& channel, int column) {
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::Channel;
  node->channel = channel;
  node->column = column;
  return node;
}

NodePtr field_node(const std::string& name, int column) {
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::Field;
  node->name = name;
  node->column = column;
  return node;
}

bool is_number(const NodePtr& node, double value) {
  return node->kind == Node::Kind::Number && node->number == value;
}

std::string depth_limit_message() {
  return "the expression is nested more than " + std::to_string(kMaxExpressionDepth) +
         " levels deep (each parenthesis, unary minus, power and each further term of a sum or "
         "product counts one level)";
}

// An operation node with its depth: refused when it would be deeper than the limit.
NodePtr operation(std::shared_ptr<Node> node) {
  for (const auto& argument : node->args)
    node->depth = std::max(node->depth, argument->depth + 1);
  if (node->depth > kMaxExpressionDepth) throw ParseError(node->column, depth_limit_message());
  return node;
}

// Builders fold operations on numbers, so evaluation never recomputes constants.
NodePtr binary(char op, NodePtr left, NodePtr right, int column) {
  if (left->kind == Node::Kind::Number && right->kind == Node::Kind::Number) {
    const double a = left->number, b = right->number;
    switch (op) {
      case '+':
        return number(a + b, column);
      case '-':
        return number(a - b, column);
      case '*':
        return number(a * b, column);
      case '/':
        return number(a / b, column);
      default:
        return number(std::pow(a, b), column);
    }
  }
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::Binary;
  node->op = op;
  node->args = {std::move(left), std::move(right)};
  node->column = column;
  return operation(std::move(node));
}

NodePtr negate(NodePtr operand, int column) {
  if (operand->kind == Node::Kind::Number) return number(-operand->number, column);
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::Negate;
  node->args = {std::move(operand)};
  node->column = column;
  return operation(std::move(node));
}

NodePtr call(const std::string& function, NodePtr argument, int column) {
  if (argument->kind == Node::Kind::Number) {
    return number(apply_function(function, argument->number), column);
  }
  auto node = std::make_shared<Node>();
  node->kind = Node::Kind::Call;
  node->function = function;
  node->args = {std::move(argument)};
  node->column = column;
  return operation(std::move(node));
}

NodePtr sum(const std::vector<NodePtr>& terms, int column) {
  if (terms.empty()) return number(0.0, column);
  NodePtr total = terms.front();
  for (size_t i = 1; i < terms.size(); ++i)
    total = binary('+', total, terms[i], column);
  return total;
}

int index_of(const std::vector<std::string>& names, const std::string& name) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<int>(i);
  }
  return -1;
}

const std::string& checked_length(const std::string& text) {
  if (text.size() > kMaxExpressionLength) {
    throw ParseError(static_cast<int>(kMaxExpressionLength) + 1,
                     "the expression is " + std::to_string(text.size()) +
                         " characters long; at most " + std::to_string(kMaxExpressionLength) +
                         " are allowed");
  }
  return text;
}

// A channel differentiated once more, refused above the highest order pinn-train computes.
Channel differentiate_checked(const Channel& channel, int input, int column) {
  Channel result = differentiate(channel, input);
  if (result.order() > kMaxDerivativeOrder) {
    throw ParseError(column, "a derivative of order " + std::to_string(result.order()) +
                                 ": pinn-train computes derivatives up to order " +
                                 std::to_string(kMaxDerivativeOrder) +
                                 " (the Taylor engine's work grows with the partitions of the "
                                 "order)");
  }
  return result;
}

class Parser {
 public:
  Parser(const std::string& text, const Symbols& symbols)
      : text_(text), symbols_(symbols), tokens_(tokenize(checked_length(text))) {}

  NodePtr parse() {
    if (peek().kind == Token::Kind::End) throw ParseError(1, "empty expression");
    NodePtr root = parse_sum();
    if (peek().kind != Token::Kind::End) {
      throw ParseError(peek().column,
                       "unexpected " + describe(peek()) + " after the end of the expression");
    }
    return root;
  }

 private:
  const Token& peek() const { return tokens_[position_]; }
  const Token& next() { return tokens_[position_++]; }
  bool at(const char* symbol) const {
    return peek().kind == Token::Kind::Symbol && peek().text == symbol;
  }
  void expect(const char* symbol) {
    if (!at(symbol)) {
      throw ParseError(peek().column,
                       std::string("expected '") + symbol + "' but found " + describe(peek()));
    }
    ++position_;
  }

  // One level of recursion, refused past the limit. Every recursion (a parenthesis, a function's
  // argument, a unary minus, a power's exponent) passes through parse_unary, which counts it.
  class Nesting {
   public:
    Nesting(int& depth, int column) : depth_(depth) {
      if (++depth_ > kMaxExpressionDepth) throw ParseError(column, depth_limit_message());
    }
    ~Nesting() { --depth_; }
    Nesting(const Nesting&) = delete;
    Nesting& operator=(const Nesting&) = delete;

   private:
    int& depth_;
  };

  NodePtr parse_sum() {
    NodePtr left = parse_product();
    while (at("+") || at("-")) {
      const Token& op = next();
      left = binary(op.text[0], left, parse_product(), op.column);
    }
    return left;
  }

  NodePtr parse_product() {
    NodePtr left = parse_unary();
    while (at("*") || at("/")) {
      const Token& op = next();
      left = binary(op.text[0], left, parse_unary(), op.column);
    }
    return left;
  }

  NodePtr parse_unary() {
    const Nesting nesting(depth_, peek().column);
    if (at("-")) {
      const int column = next().column;
      return negate(parse_unary(), column);
    }
    if (at("+")) {
      next();
      return parse_unary();
    }
    return parse_power();
  }

  NodePtr parse_power() {
    NodePtr base = parse_primary();
    if (at("^")) {
      const int column = next().column;
      return binary('^', base, parse_unary(), column);
    }
    return base;
  }

  NodePtr parse_primary() {
    const Token& token = next();
    if (token.kind == Token::Kind::Number) return number(token.number, token.column);
    if (token.kind == Token::Kind::Symbol && token.text == "(") {
      NodePtr inner = parse_sum();
      expect(")");
      return inner;
    }
    if (token.kind == Token::Kind::Name) {
      return at("(") ? parse_call(token) : resolve_name(token);
    }
    throw ParseError(token.column, "expected a number, name or '(' but found " + describe(token));
  }

  std::vector<std::string> known_names() const {
    std::vector<std::string> names = symbols_.inputs;
    names.insert(names.end(), symbols_.outputs.begin(), symbols_.outputs.end());
    for (const auto& entry : symbols_.constants)
      names.push_back(entry.first);
    names.insert(names.end(), symbols_.parameters.begin(), symbols_.parameters.end());
    names.insert(names.end(), symbols_.fields.begin(), symbols_.fields.end());
    names.push_back("pi");
    return names;
  }

  NodePtr resolve_name(const Token& token) {
    const std::string& name = token.text;
    if (int i = index_of(symbols_.inputs, name); i >= 0) {
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::Input;
      node->input = i;
      node->column = token.column;
      return node;
    }
    if (int o = index_of(symbols_.outputs, name); o >= 0)
      return channel_node({o, {}}, token.column);
    if (auto constant = symbols_.constants.find(name); constant != symbols_.constants.end()) {
      return number(constant->second, token.column);
    }
    if (name == "pi") return number(M_PI, token.column);
    if (int p = index_of(symbols_.parameters, name); p >= 0) {
      auto node = std::make_shared<Node>();
      node->kind = Node::Kind::Parameter;
      node->input = p;
      node->column = token.column;
      return node;
    }
    // Fields come before subscripts: on a boundary set "n_x" is the normal, not d(n)/dx.
    if (index_of(symbols_.fields, name) >= 0) return field_node(name, token.column);
    if (auto channel = subscript_channel(token)) return channel_node(*channel, token.column);
    if (is_function(name) || name == "d" || name == "dir" || name == "dn" || name == "lap") {
      throw ParseError(token.column, "'" + name + "' is a function: write " + name + "(...)");
    }
    std::vector<std::string> candidates = known_names();
    const auto functions = reserved_names();
    candidates.insert(candidates.end(), functions.begin(), functions.end());
    throw ParseError(token.column, "unknown name '" + name + "'" + did_you_mean(name, candidates));
  }

  // "u_xy" -> channel (u, {x, y}) when u is an output and x, y are one-character inputs.
  std::optional<Channel> subscript_channel(const Token& token) const {
    const std::string& name = token.text;
    const auto underscore = name.find('_');
    if (underscore == std::string::npos) return std::nullopt;
    const int output = index_of(symbols_.outputs, name.substr(0, underscore));
    if (output < 0) return std::nullopt;
    const std::string suffix = name.substr(underscore + 1);
    Channel channel{output, {}};
    for (char c : suffix) {
      const int input = index_of(symbols_.inputs, std::string(1, c));
      if (input < 0) {
        throw ParseError(token.column,
                         "unknown name '" + name + "': a subscript derivative needs one-letter " +
                             "input names after '_'; for inputs with longer names write d(" +
                             name.substr(0, underscore) + ", x1, x2)");
      }
      channel = differentiate_checked(channel, input, token.column);
    }
    if (channel.wrt.empty()) return std::nullopt;
    return channel;
  }

  NodePtr parse_call(const Token& name) {
    const std::string& function = name.text;
    expect("(");
    if (function == "d") return parse_d(name);
    if (function == "dir") return parse_dir(name);
    if (function == "lap") return parse_lap(name);
    if (function == "dn") return parse_dn(name);
    if (!is_function(function)) {
      if (index_of(known_names(), function) >= 0) {
        throw ParseError(name.column, "'" + function + "' is not a function");
      }
      throw ParseError(name.column, "unknown function '" + function + "'" +
                                        did_you_mean(function, reserved_names()));
    }
    NodePtr argument = parse_sum();
    if (at(",")) throw ParseError(peek().column, function + "() takes one argument");
    expect(")");
    return call(function, argument, name.column);
  }

  // The first argument of d(), dir() and lap(): an output or a derivative of one.
  Channel parse_differentiated() {
    const Token& start = peek();
    NodePtr argument = parse_sum();
    if (argument->kind != Node::Kind::Channel) {
      const size_t begin = static_cast<size_t>(start.column - 1);
      const size_t end = static_cast<size_t>(peek().column - 1);
      std::string source = text_.substr(begin, end - begin);
      while (!source.empty() && std::isspace(static_cast<unsigned char>(source.back()))) {
        source.pop_back();
      }
      throw ParseError(start.column, "derivatives apply to outputs only: '" + source +
                                         "' is not an output or a derivative of one");
    }
    if (!argument->channel.laplacian.empty()) {
      // One summed channel has no derivatives of its own; the Laplacian of a derivative has.
      throw ParseError(start.column,
                       "a summed Laplacian cannot be differentiated further: write the Laplacian "
                       "of the derivative, e.g. lap(u_x) for d(lap(u), x)");
    }
    return argument->channel;
  }

  int parse_input_name() {
    const Token& token = next();
    if (token.kind != Token::Kind::Name) {
      throw ParseError(token.column, "expected an input name but found " + describe(token));
    }
    const int input = index_of(symbols_.inputs, token.text);
    if (input < 0) {
      std::string inputs;
      for (const auto& n : symbols_.inputs)
        inputs += (inputs.empty() ? "" : ", ") + n;
      throw ParseError(token.column, "cannot differentiate with respect to '" + token.text +
                                         "': not an input (inputs are " + inputs + ")");
    }
    return input;
  }

  NodePtr parse_d(const Token& name) {
    Channel channel = parse_differentiated();
    if (!at(",")) {
      throw ParseError(peek().column, "d() needs the inputs to differentiate by: d(u, x)");
    }
    while (at(",")) {
      next();
      const int column = peek().column;
      channel = differentiate_checked(channel, parse_input_name(), column);
    }
    expect(")");
    return channel_node(channel, name.column);
  }

  NodePtr parse_dir(const Token& name) {
    const Channel channel = parse_differentiated();
    expect(",");
    const int open = peek().column;
    expect("[");
    std::vector<NodePtr> entries{parse_sum()};
    while (at(",")) {
      next();
      entries.push_back(parse_sum());
    }
    expect("]");
    expect(")");
    if (entries.size() != symbols_.inputs.size()) {
      throw ParseError(open, "dir() needs a vector with one entry per input (" +
                                 std::to_string(symbols_.inputs.size()) + "), found " +
                                 std::to_string(entries.size()));
    }
    std::vector<NodePtr> terms;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (is_number(entries[i], 0.0)) continue;
      NodePtr partial = channel_node(
          differentiate_checked(channel, static_cast<int>(i), name.column), name.column);
      terms.push_back(is_number(entries[i], 1.0)
                          ? partial
                          : binary('*', entries[i], partial, entries[i]->column));
    }
    return sum(terms, name.column);
  }

  // lap(u) sums over every input; lap(u, x, y) over the named ones (say, space but not time).
  NodePtr parse_lap(const Token& name) {
    const Channel channel = parse_differentiated();
    std::vector<int> inputs;
    while (at(",")) {
      next();
      inputs.push_back(parse_input_name());
    }
    expect(")");
    if (inputs.empty()) {
      for (size_t i = 0; i < symbols_.inputs.size(); ++i)
        inputs.push_back(static_cast<int>(i));
    }
    std::sort(inputs.begin(), inputs.end());
    if (std::adjacent_find(inputs.begin(), inputs.end()) != inputs.end()) {
      throw ParseError(name.column, "lap() names an input twice (lap(u, x, x) would be 2 u_xx)");
    }
    if (channel.wrt.empty() && inputs.size() > 1) {
      // One summed channel: the Taylor engine propagates it as one (Σ_i σ'' z_i² + σ' Σ_i z_ii).
      return channel_node(Channel{channel.output, {}, inputs}, name.column);
    }
    std::vector<NodePtr> terms;
    for (int input : inputs) {
      terms.push_back(channel_node(
          differentiate_checked(differentiate(channel, input), input, name.column), name.column));
    }
    return sum(terms, name.column);
  }

  // dn(u): the outward normal derivative sum_i n_i du/dx_i on a boundary set, whose normal
  // components are the fields n_<input> (components along time, say, are absent).
  NodePtr parse_dn(const Token& name) {
    const Channel channel = parse_differentiated();
    expect(")");
    std::vector<NodePtr> terms;
    for (size_t i = 0; i < symbols_.inputs.size(); ++i) {
      const std::string normal = "n_" + symbols_.inputs[i];
      if (index_of(symbols_.fields, normal) < 0) continue;
      terms.push_back(
          binary('*', field_node(normal, name.column),
                 channel_node(differentiate_checked(channel, static_cast<int>(i), name.column),
                              name.column),
                 name.column));
    }
    if (terms.empty()) {
      throw ParseError(name.column,
                       "dn() needs outward normals, which only boundary point sets have (sample "
                       "the set with \"region\": \"boundary\" from a domain)");
    }
    return sum(terms, name.column);
  }

  const std::string& text_;
  const Symbols& symbols_;
  std::vector<Token> tokens_;
  size_t position_ = 0;
  int depth_ = 0;  // the parser's current recursion depth
};

}  // namespace

NodePtr parse(const std::string& text, const Symbols& symbols) {
  return Parser(text, symbols).parse();
}

}  // namespace pinn::expr
