// Parallel networks (DeepXDE's PFNN): one sub-network per output, each of any type and with its
// own widths, all reading the same inputs; the outputs are their single outputs side by side.
// With outputs of different character (the displacements and stresses of an elasticity problem)
// no hidden unit has to serve two of them. Each sub-network's state-dict names are prefixed by
// its output's name ("u.layer0.weight").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/reader.hpp"
#include "expr/expression.hpp"
#include "model/network.hpp"

namespace pinn::model {

class ParallelNetwork : public Network {
 public:
  // `branches[o]` computes output o (named `outputs[o]`), N x 1.
  ParallelNetwork(const std::vector<std::string>& outputs,
                  std::vector<std::shared_ptr<Network>> branches);
  torch::Tensor forward(const torch::Tensor& points) override;
  int smooth_orders() const override;
  // Every branch's operations on the same input, then their outputs concatenated; empty when a
  // branch does not describe its own.
  Structure structure() const override;
  const std::vector<std::shared_ptr<Network>>& branches() const { return branches_; }

 private:
  std::vector<std::shared_ptr<Network>> branches_;
};

// The "parallel" network type: "networks" holds one network object per output, keyed by its name.
std::shared_ptr<Network> make_parallel(config::Reader& reader, const expr::Symbols& symbols);

}  // namespace pinn::model
