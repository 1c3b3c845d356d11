// The problem: what is to be made small, independent of any network. Inputs and outputs,
// constants, the named point sets (sampled once), the loss terms with their parsed residuals,
// and the evaluation sets whose fields are written after training.
#pragma once

#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "config/reader.hpp"
#include "expr/expression.hpp"

namespace pinn::problem {

struct LossTerm {
  std::string name;
  std::string points;  // name of the point set
  std::string residual_text;
  expr::NodePtr residual;
  double weight = 1.0;
};

struct EvaluationSet {
  std::string name;
  torch::Tensor points;  // N x d, float64, CPU
  std::vector<std::string> field_names;
  std::vector<expr::NodePtr> fields;
};

struct Problem {
  expr::Symbols symbols;
  std::map<std::string, torch::Tensor> point_sets;  // name -> N x d, float64, CPU
  std::vector<LossTerm> losses;
  std::vector<EvaluationSet> evaluations;

  int input_count() const { return static_cast<int>(symbols.inputs.size()); }
  int output_count() const { return static_cast<int>(symbols.outputs.size()); }
  // The channels the loss terms read on point set `name`.
  std::set<expr::Channel> channels_on(const std::string& name) const;
  // The highest derivative order any loss term or field asks for.
  int max_derivative_order() const;
};

// Reads inputs, outputs, constants, points, losses and evaluate from the top-level object.
// `base_directory` resolves relative CSV paths; `seed` derives the default per-set seeds.
Problem read_problem(config::Reader& top, const std::string& base_directory, int seed);

// Parses an expression for the config value at reader/key, turning a ParseError into an
// InputError that names the file, JSON path and column and shows where.
expr::NodePtr parse_expression(const config::Reader& reader, const std::string& key,
                               const std::string& text, const expr::Symbols& symbols);

}  // namespace pinn::problem
