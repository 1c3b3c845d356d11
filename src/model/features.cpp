// Input features as expressions of the inputs.
#include "model/features.hpp"

#include <set>

#include "problem/problem.hpp"
#include "util/errors.hpp"

namespace pinn::model {

FeatureMap::FeatureMap(std::vector<expr::NodePtr> features) : features_(std::move(features)) {}

torch::Tensor FeatureMap::forward(const torch::Tensor& points) const {
  std::vector<torch::Tensor> columns;
  for (const auto& feature : features_) {
    // A constant feature evaluates to a broadcast row: every point gets its own copy.
    columns.push_back(
        expr::evaluate(*feature, {points, nullptr, nullptr, nullptr}).expand({points.size(0)}));
  }
  return torch::stack(columns, 1);
}

std::vector<expr::NodePtr> read_features(config::Reader& reader, const expr::Symbols& symbols) {
  reader.describe("features",
                  "expressions of the inputs and constants that replace the inputs as the "
                  "network's input, e.g. [\"r\", \"sin(theta)\", \"cos(theta)\"]");
  if (!reader.has("features")) {
    reader.accept("features");
    return {};
  }
  const auto texts = reader.get<std::vector<std::string>>("features");
  if (texts.empty()) reader.fail("features", "expected at least one feature expression, found []");
  // Outputs are known names here only so that naming one gets its own message.
  expr::Symbols allowed;
  allowed.inputs = symbols.inputs;
  allowed.outputs = symbols.outputs;
  allowed.constants = symbols.constants;
  std::vector<expr::NodePtr> features;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string key = "features/" + std::to_string(i);
    auto feature = problem::parse_expression(reader, key, texts[i], allowed);
    std::set<expr::Channel> channels;
    expr::collect_channels(*feature, channels);
    if (!channels.empty()) {
      const auto& channel = *channels.begin();
      throw InputError(reader.document().where(reader.pointer() / config::Pointer("/" + key)),
                       "a feature is a function of the inputs and constants, but '" + texts[i] +
                           "' reads " +
                           expr::channel_name(channel, symbols.inputs, symbols.outputs) +
                           " (an output or its derivative)");
    }
    features.push_back(std::move(feature));
  }
  return features;
}

}  // namespace pinn::model
