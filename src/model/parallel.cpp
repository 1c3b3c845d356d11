// One sub-network per output.
#include "model/parallel.hpp"

#include <algorithm>
#include <limits>

#include "util/suggest.hpp"

namespace pinn::model {

ParallelNetwork::ParallelNetwork(const std::vector<std::string>& outputs,
                                 std::vector<std::shared_ptr<Network>> branches) {
  for (size_t o = 0; o < branches.size(); ++o)
    branches_.push_back(register_module(outputs.at(o), std::move(branches[o])));
}

torch::Tensor ParallelNetwork::forward(const torch::Tensor& points) {
  std::vector<torch::Tensor> columns;
  for (const auto& branch : branches_)
    columns.push_back(branch->forward(points));
  return torch::cat(columns, 1);
}

int ParallelNetwork::smooth_orders() const {
  int orders = std::numeric_limits<int>::max();
  for (const auto& branch : branches_)
    orders = std::min(orders, branch->smooth_orders());
  return orders;
}

Structure ParallelNetwork::structure() const {
  Structure structure;
  std::vector<int> outputs;
  for (const auto& branch : branches_) {
    const Structure own = branch->structure();
    if (own.operations.empty()) return {};
    outputs.push_back(structure.append(own, Structure::kInput));
    structure.branches.push_back(branch.get());
  }
  structure.concatenate(outputs);
  return structure;
}

std::shared_ptr<Network> make_parallel(config::Reader& reader, const expr::Symbols& symbols) {
  reader.describe("networks",
                  "one network object per output, keyed by the output's name, e.g. "
                  "{\"u\": {\"hidden\": [32, 32]}, \"v\": {\"type\": \"resnet\"}}");
  config::Reader networks = reader.object("networks");
  for (const auto& name : networks.keys()) {
    if (std::find(symbols.outputs.begin(), symbols.outputs.end(), name) == symbols.outputs.end()) {
      networks.fail(name, "'" + name + "' is not an output" + did_you_mean(name, symbols.outputs) +
                              "; the outputs are " + quoted_list(symbols.outputs, "and"));
    }
  }
  std::vector<std::shared_ptr<Network>> branches;
  for (const auto& output : symbols.outputs) {
    if (!networks.has(output)) {
      reader.fail("networks", "expected a sub-network for every output (" +
                                  quoted_list(symbols.outputs, "and") + "), found none for '" +
                                  output + "'");
    }
    config::Reader branch = networks.object(output);
    expr::Symbols own = symbols;
    own.outputs = {output};
    branches.push_back(make_branch_network(branch, own));
  }
  networks.finish();
  return std::make_shared<ParallelNetwork>(symbols.outputs, std::move(branches));
}

}  // namespace pinn::model
