// Expressions: residuals and fields written as text ("u_t + u*u_x - nu*u_xx"), parsed once into a
// tree and evaluated on tensors every step. Derivative operators (u_x, d(u,x,y), dir(u,[..]),
// lap(u)) are resolved at parse time into channels, so an engine computes each one once.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "expr/channel.hpp"

namespace pinn::expr {

// Limits checked while parsing, each a clear error at a column rather than a crash or a hang: the
// text's length, the nesting of the tree (parentheses, unary minus, powers, and one level per term
// of a long sum or product, since evaluation, printing and freeing recurse over it), and the
// derivative order (the Taylor engine's work grows with the partitions of the order: 22 at order
// 8, 5604 at order 20).
inline constexpr size_t kMaxExpressionLength = 100000;
inline constexpr int kMaxExpressionDepth = 1000;
inline constexpr int kMaxDerivativeOrder = 8;

// The names an expression may use.
struct Symbols {
  std::vector<std::string> inputs;          // e.g. {"x", "y"}
  std::vector<std::string> outputs;         // e.g. {"u"}
  std::map<std::string, double> constants;  // e.g. {"nu": 0.01}; "pi" is always defined
  std::vector<std::string> parameters;      // trainable scalars, e.g. {"lambda"}
  // Per-point columns of the point set the expression is evaluated on: outward normals
  // ("n_x", "n_y" on boundary sets; dn(u) uses them) and data columns read from a CSV file.
  std::vector<std::string> fields;
};

// A syntax or name error at a 1-based column of the expression text.
class ParseError : public std::runtime_error {
 public:
  ParseError(int column, const std::string& message)
      : std::runtime_error(message), column_(column) {}
  int column() const { return column_; }

 private:
  int column_;
};

struct Node;
using NodePtr = std::shared_ptr<const Node>;

struct Node {
  enum class Kind { Number, Input, Channel, Field, Parameter, Negate, Binary, Call };
  Kind kind = Kind::Number;
  double number = 0.0;        // Number
  int input = -1;             // Input: index into Symbols::inputs; Parameter: into parameters
  std::string name;           // Field: the column's name
  expr::Channel channel;      // Channel
  char op = 0;                // Binary: one of + - * / ^
  std::string function;       // Call: sin cos tan exp log sqrt abs tanh sinh cosh
  std::vector<NodePtr> args;  // operands of Negate, Binary and Call
  int column = 0;             // where the node starts in the text, 1-based
  int depth = 1;              // levels of the tree below and including this node
};

// Parses `text`; throws ParseError naming the column of the first problem.
NodePtr parse(const std::string& text, const Symbols& symbols);

// Every channel the expression reads.
void collect_channels(const Node& node, std::set<Channel>& channels);

// What evaluation reads: the input columns and the channels computed by a derivative engine.
struct EvalContext {
  torch::Tensor inputs;                                          // N x d
  const std::map<Channel, torch::Tensor>* channels = nullptr;    // each of shape N
  const std::map<std::string, torch::Tensor>* fields = nullptr;  // each of shape N
  const std::vector<torch::Tensor>* parameters = nullptr;        // scalars
};

// Evaluates to a tensor of shape N (constants are broadcast to the point count).
torch::Tensor evaluate(const Node& node, const EvalContext& context);

// Names the language itself uses (functions, d, dir, lap, pi): not allowed as user names.
std::vector<std::string> reserved_names();

// A readable rendering of the tree, used in messages and tests.
std::string to_string(const Node& node, const Symbols& symbols);

}  // namespace pinn::expr
