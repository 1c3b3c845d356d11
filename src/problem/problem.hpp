// The problem: what is to be made small, independent of any network. Inputs and outputs,
// constants and trainable parameters, the domains, the named point sets (with their normals and
// data columns), the loss terms with their parsed residuals, the reference solution the result
// is judged against, and the evaluation sets whose fields are written after training.
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/reader.hpp"
#include "expr/expression.hpp"
#include "geometry/domain.hpp"
#include "problem/point_set.hpp"

namespace pinn::problem {

// Causal training (Wang, Sankaran & Perdikaris 2022, "Respecting causality is all you need for
// training physics-informed neural networks", arXiv 2203.07404): the term's points, ordered by
// one input (time), are split into `chunks` of equal count; with L_k the mean square of chunk k,
// w_k = exp(-epsilon Σ_{j<k} L_j) (no gradient through w) and the term's loss is mean_k(w_k L_k).
struct CausalWeighting {
  int input = 0;  // the input that orders the points
  int chunks = 32;
  double epsilon = 1.0;
};

struct LossTerm {
  std::string name;
  std::string type;    // residual, dirichlet, neumann, robin, initial, periodic, data
  bool pde = false;    // its residual is the user's own (type "residual"), not a condition's
  std::string points;  // name of the point set
  std::string residual_text;
  expr::NodePtr residual;
  double weight = 1.0;
  // "weight": "initial_inverse": the weight is 1 / the term's loss at step 0, fixed from then on
  // (the trainer sets it, train/objective.hpp); `weight` stays 1.
  bool weight_initial_inverse = false;
  // Periodic terms: the set the points are matched with (the same points shifted onto the
  // opposite face); the term's residual is r(points) - r(partner).
  std::string partner;
  std::optional<CausalWeighting> causal;
};

struct EvaluationSet {
  std::string name;
  torch::Tensor points;  // N x d, float64, CPU
  std::vector<std::string> field_names;
  std::vector<expr::NodePtr> fields;
};

// A reference solution and where the errors against it are measured.
struct Reference {
  torch::Tensor points;                // N x d, float64, CPU
  std::vector<int> outputs;            // the outputs that have reference values
  torch::Tensor values;                // N x outputs.size(), float64, CPU
  std::vector<size_t> residual_terms;  // loss terms whose mean |residual| is reported too
  int every = 0;                       // measure every this many steps (0: only at the end)
  bool defined() const { return points.defined(); }
};

struct Problem {
  expr::Symbols symbols;  // inputs, outputs, constants, parameters (fields are per set)
  std::vector<double> parameter_initial_values;  // one per symbols.parameters
  std::map<std::string, geometry::DomainPtr> domains;
  std::map<std::string, PointSet> point_sets;
  std::vector<LossTerm> losses;
  Reference reference;
  std::vector<EvaluationSet> evaluations;

  int input_count() const { return static_cast<int>(symbols.inputs.size()); }
  int output_count() const { return static_cast<int>(symbols.outputs.size()); }
  // The channels the loss terms read on point set `name` (periodic partners included).
  std::set<expr::Channel> channels_on(const std::string& name) const;
  // The highest derivative order any loss term or field asks for.
  int max_derivative_order() const;
  // The symbols an expression on point set `name` may use: the problem's plus the set's fields.
  expr::Symbols symbols_on(const std::string& name) const;
};

// Reads inputs, outputs, constants, parameters, domains, points, losses, reference and evaluate
// from the top-level object. `base_directory` resolves relative CSV paths; `seed` derives the
// default per-set seeds.
Problem read_problem(config::Reader& top, const std::string& base_directory, int seed);

// Parses an expression for the config value at reader/key, turning a ParseError into an
// InputError that names the file, JSON path and column and shows where.
expr::NodePtr parse_expression(const config::Reader& reader, const std::string& key,
                               const std::string& text, const expr::Symbols& symbols);

}  // namespace pinn::problem
