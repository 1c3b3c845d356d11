// The expression tree at work: channel helpers, evaluation on tensors, collecting channels, and
// printing.
#include <cmath>
#include <sstream>

#include "expr/expression.hpp"
#include "expr/functions.hpp"

namespace pinn::expr {

namespace {

torch::Tensor evaluate_node(const Node& node, const EvalContext& context) {
  switch (node.kind) {
    case Node::Kind::Number:
      return torch::scalar_tensor(node.number, context.inputs.options().requires_grad(false));
    case Node::Kind::Input:
      return context.inputs.select(1, node.input);
    case Node::Kind::Channel: {
      const auto found = context.channels->find(node.channel);
      if (found == context.channels->end()) {
        throw std::logic_error("expression evaluation: channel of output " +
                               std::to_string(node.channel.output) + " of order " +
                               std::to_string(node.channel.order()) + " was not computed");
      }
      return found->second;
    }
    case Node::Kind::Field: {
      if (context.fields == nullptr || !context.fields->count(node.name)) {
        throw std::logic_error("expression evaluation: field '" + node.name + "' is missing");
      }
      return context.fields->at(node.name);
    }
    case Node::Kind::Parameter:
      return context.parameters->at(static_cast<size_t>(node.input));
    case Node::Kind::Negate:
      return -evaluate_node(*node.args[0], context);
    case Node::Kind::Call:
      return apply_function(node.function, evaluate_node(*node.args[0], context));
    case Node::Kind::Binary:
      break;
  }
  const torch::Tensor left = evaluate_node(*node.args[0], context);
  const Node& right_node = *node.args[1];
  if (node.op == '^' && right_node.kind == Node::Kind::Number) {
    // u^2 is the common case: a product is cheaper and differentiates more simply than pow.
    return right_node.number == 2.0 ? left * left : torch::pow(left, right_node.number);
  }
  const torch::Tensor right = evaluate_node(right_node, context);
  switch (node.op) {
    case '+':
      return left + right;
    case '-':
      return left - right;
    case '*':
      return left * right;
    case '/':
      return left / right;
    default:
      return torch::pow(left, right);
  }
}

}  // namespace

Channel differentiate(Channel channel, int input) {
  channel.wrt.insert(std::upper_bound(channel.wrt.begin(), channel.wrt.end(), input), input);
  return channel;
}

std::vector<Channel> laplacian_terms(const Channel& channel) {
  if (channel.laplacian.empty()) return {channel};
  std::vector<Channel> terms;
  for (int i : channel.laplacian)
    terms.push_back(Channel{channel.output, {i, i}, {}});
  return terms;
}

std::string channel_name(const Channel& channel, const std::vector<std::string>& inputs,
                         const std::vector<std::string>& outputs) {
  const std::string& output = outputs.at(static_cast<size_t>(channel.output));
  if (!channel.laplacian.empty()) {
    std::string name = "lap(" + output;
    for (int i : channel.laplacian)
      name += "," + inputs.at(static_cast<size_t>(i));
    return name + ")";
  }
  if (channel.wrt.empty()) return output;
  bool single_letters = true;
  for (int i : channel.wrt)
    single_letters &= inputs.at(static_cast<size_t>(i)).size() == 1;
  std::string name = single_letters ? output + "_" : "d(" + output;
  for (int i : channel.wrt)
    name += single_letters ? inputs[i] : "," + inputs[i];
  return single_letters ? name : name + ")";
}

std::vector<std::string> reserved_names() {
  std::vector<std::string> names = {"d", "dir", "dn", "lap", "pi"};
  const std::vector<std::string> function_names = functions().names();
  names.insert(names.end(), function_names.begin(), function_names.end());
  return names;
}

void collect_channels(const Node& node, std::set<Channel>& channels) {
  if (node.kind == Node::Kind::Channel) channels.insert(node.channel);
  for (const auto& argument : node.args)
    collect_channels(*argument, channels);
}

torch::Tensor evaluate(const Node& node, const EvalContext& context) {
  torch::Tensor result = evaluate_node(node, context);
  const int64_t count = context.inputs.size(0);
  // A constant (or constant-valued) expression still gives one value per point.
  return result.dim() == 1 && result.size(0) == count ? result : result.expand({count});
}

std::string to_string(const Node& node, const Symbols& symbols) {
  std::ostringstream text;
  switch (node.kind) {
    case Node::Kind::Number:
      text << node.number;
      break;
    case Node::Kind::Input:
      text << symbols.inputs.at(static_cast<size_t>(node.input));
      break;
    case Node::Kind::Channel:
      text << channel_name(node.channel, symbols.inputs, symbols.outputs);
      break;
    case Node::Kind::Field:
      text << node.name;
      break;
    case Node::Kind::Parameter:
      text << symbols.parameters.at(static_cast<size_t>(node.input));
      break;
    case Node::Kind::Negate:
      text << "-" << to_string(*node.args[0], symbols);
      break;
    case Node::Kind::Call:
      text << node.function << "(" << to_string(*node.args[0], symbols) << ")";
      break;
    case Node::Kind::Binary:
      text << "(" << to_string(*node.args[0], symbols) << " " << node.op << " "
           << to_string(*node.args[1], symbols) << ")";
      break;
  }
  return text.str();
}

}  // namespace pinn::expr
