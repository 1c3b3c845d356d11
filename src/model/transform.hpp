// Output transforms ("hard constraints"): the config's "transform" object gives an output as an
// expression of the inputs and the raw network output N, e.g. "x*(1-x)*N + sin(pi*x)", so that
// a boundary condition holds exactly. The transformed network is what the engines differentiate.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/reader.hpp"
#include "expr/expression.hpp"
#include "model/network.hpp"

namespace pinn::model {

class TransformedNetwork : public Network {
 public:
  // `transforms[o]` null: output o is the raw output.
  TransformedNetwork(std::shared_ptr<Network> raw, std::vector<expr::NodePtr> transforms);
  torch::Tensor forward(const torch::Tensor& points) override;
  int smooth_orders() const override { return raw_->smooth_orders(); }
  // The raw network's operations, marked as transformed by this network.
  Structure structure() const override {
    Structure structure = raw_->structure();
    structure.output_transform = this;
    structure.raw = raw_.get();
    return structure;
  }
  const Network& raw() const { return *raw_; }
  Network& raw() { return *raw_; }
  size_t outputs() const { return transforms_.size(); }
  // Output o's transform, or null when output o is the raw output.
  const expr::NodePtr& transform(size_t o) const { return transforms_.at(o); }

 private:
  std::shared_ptr<Network> raw_;
  std::vector<expr::NodePtr> transforms_;
};

// Reads "transform" ({"u": "x*(1-x)*N"}) if present and wraps `raw`; otherwise returns `raw`.
// `symbols` are the problem's (inputs and constants may be used; N is the raw output).
std::shared_ptr<Network> apply_transforms(config::Reader& top, std::shared_ptr<Network> raw,
                                          const expr::Symbols& symbols);

}  // namespace pinn::model
