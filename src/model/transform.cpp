// Output transforms applied after the raw network.
#include "model/transform.hpp"

#include <algorithm>

#include "problem/problem.hpp"

namespace pinn::model {

TransformedNetwork::TransformedNetwork(std::shared_ptr<Network> raw,
                                       std::vector<expr::NodePtr> transforms)
    : raw_(register_module("net", std::move(raw))), transforms_(std::move(transforms)) {}

torch::Tensor TransformedNetwork::forward(const torch::Tensor& points) {
  const torch::Tensor raw = raw_->forward(points);
  std::vector<torch::Tensor> columns;
  for (size_t o = 0; o < transforms_.size(); ++o) {
    const auto value = raw.select(1, static_cast<int64_t>(o));
    if (!transforms_[o]) {
      columns.push_back(value);
      continue;
    }
    const std::map<std::string, torch::Tensor> fields = {{"N", value}};
    columns.push_back(expr::evaluate(*transforms_[o], {points, nullptr, &fields, nullptr}));
  }
  return torch::stack(columns, 1);
}

std::shared_ptr<Network> apply_transforms(config::Reader& top, std::shared_ptr<Network> raw,
                                          const expr::Symbols& symbols) {
  if (!top.has("transform")) return raw;
  config::Reader reader = top.object("transform");
  expr::Symbols transform_symbols;
  transform_symbols.inputs = symbols.inputs;
  transform_symbols.constants = symbols.constants;
  transform_symbols.fields = {"N"};
  std::vector<expr::NodePtr> transforms(symbols.outputs.size());
  for (const auto& name : reader.keys()) {
    const auto found = std::find(symbols.outputs.begin(), symbols.outputs.end(), name);
    if (found == symbols.outputs.end()) {
      reader.fail(name, "'" + name + "' is not an output");
    }
    const auto text = reader.get<std::string>(name);
    transforms[static_cast<size_t>(found - symbols.outputs.begin())] =
        problem::parse_expression(reader, name, text, transform_symbols);
  }
  reader.finish();
  return std::make_shared<TransformedNetwork>(std::move(raw), std::move(transforms));
}

}  // namespace pinn::model
