// Reading the problem from the config: names, parameters, domains, point sets, loss terms, the
// reference and the evaluation sets.
#include "problem/problem.hpp"

#include <algorithm>

#include "problem/loss_terms.hpp"
#include "problem/reference.hpp"
#include "util/errors.hpp"
#include "util/names.hpp"
#include "util/suggest.hpp"

namespace pinn::problem {

namespace {

using config::Reader;

// Inputs, outputs, constants and parameters share one namespace with the expression language.
void check_new_name(const Reader& reader, const std::string& key, const std::string& name,
                    const std::set<std::string>& taken) {
  if (!is_identifier(name)) {
    reader.fail(key, "'" + name + "' is not a valid name (a letter, then letters, digits or _)");
  }
  const auto reserved = expr::reserved_names();
  if (std::find(reserved.begin(), reserved.end(), name) != reserved.end()) {
    reader.fail(key, "'" + name + "' is reserved by the expression language");
  }
  if (taken.count(name)) reader.fail(key, "the name '" + name + "' is used twice");
}

std::vector<std::string> read_names(Reader& top, const std::string& key,
                                    std::set<std::string>& taken) {
  const auto names = top.get<std::vector<std::string>>(key);
  if (names.empty()) top.fail(key, "expected at least one name, found an empty list");
  for (const auto& name : names) {
    check_new_name(top, key, name, taken);
    taken.insert(name);
  }
  return names;
}

// An object of name -> number ("constants", "parameters").
std::map<std::string, double> read_numbers(Reader& top, const std::string& key,
                                           std::set<std::string>& taken) {
  std::map<std::string, double> numbers;
  if (!top.has(key)) {
    top.get_or(key, config::Json::object());
    return numbers;
  }
  Reader reader = top.object(key);
  for (const auto& name : reader.keys()) {
    check_new_name(reader, name, name, taken);
    taken.insert(name);
    numbers[name] = reader.get<double>(name);
  }
  reader.finish();
  return numbers;
}

std::map<std::string, geometry::DomainPtr> read_domains(Reader& top,
                                                        const std::vector<std::string>& inputs) {
  std::map<std::string, geometry::DomainPtr> domains;
  if (!top.has("domains")) return domains;
  Reader reader = top.object("domains");
  for (const auto& name : reader.keys()) {
    if (!is_identifier(name)) reader.fail(name, "'" + name + "' is not a valid domain name");
    Reader domain = reader.object(name);
    domains[name] = geometry::make_domain(domain, inputs, domains);
  }
  reader.finish();
  return domains;
}

std::map<std::string, PointSet> read_point_sets(Reader& top, const SamplingContext& base) {
  Reader sets = top.object("points");
  std::map<std::string, PointSet> point_sets;
  int index = 0;
  for (const auto& name : sets.keys()) {
    if (!is_identifier(name)) sets.fail(name, "'" + name + "' is not a valid point set name");
    Reader set = sets.object(name);
    SamplingContext context = base;
    context.default_seed = base.default_seed + 1000 * (++index);  // distinct, stable per set
    point_sets[name] = read_point_set(set, context);
  }
  if (point_sets.empty()) sets.fail_here("expected at least one named point set");
  sets.finish();
  return point_sets;
}

std::vector<EvaluationSet> read_evaluations(Reader& top, const Problem& problem,
                                            const SamplingContext& base) {
  std::vector<EvaluationSet> evaluations;
  if (!top.has("evaluate")) return evaluations;
  std::set<std::string> names;
  auto readers = top.objects("evaluate");
  for (size_t i = 0; i < readers.size(); ++i) {
    Reader& reader = readers[i];
    EvaluationSet set;
    set.name = reader.get<std::string>("name");
    if (!is_identifier(set.name)) {
      reader.fail("name", "'" + set.name + "' is not a valid name (letters, digits, _)");
    }
    if (!names.insert(set.name).second) {
      reader.fail("name", "the evaluation set name '" + set.name + "' is used twice");
    }
    // Either the name of a point set or an inline sampler object.
    expr::Symbols symbols = problem.symbols;
    if (reader.has("points") && reader.json("points").is_object()) {
      Reader sampler = reader.object("points");
      SamplingContext context = base;
      context.default_seed = base.default_seed + 500000 + static_cast<int64_t>(i);
      set.points = read_point_set(sampler, context).sample.points;
    } else {
      set.points = problem.point_sets.at(read_point_set_name(reader, "points", problem.point_sets))
                       .sample.points;
    }
    set.field_names = reader.get_or("fields", problem.symbols.outputs);
    if (set.field_names.empty()) reader.fail("fields", "expected at least one field");
    for (size_t f = 0; f < set.field_names.size(); ++f) {
      set.fields.push_back(
          parse_expression(reader, "fields/" + std::to_string(f), set.field_names[f], symbols));
    }
    reader.finish();
    evaluations.push_back(std::move(set));
  }
  return evaluations;
}

}  // namespace

std::set<expr::Channel> Problem::channels_on(const std::string& name) const {
  std::set<expr::Channel> channels;
  for (const auto& term : losses) {
    if (term.points == name || term.partner == name) {
      expr::collect_channels(*term.residual, channels);
    }
  }
  return channels;
}

int Problem::max_derivative_order() const {
  std::set<expr::Channel> channels;
  for (const auto& term : losses)
    expr::collect_channels(*term.residual, channels);
  for (const auto& set : evaluations) {
    for (const auto& field : set.fields)
      expr::collect_channels(*field, channels);
  }
  int order = 0;
  for (const auto& channel : channels)
    order = std::max(order, channel.order());
  return order;
}

expr::Symbols Problem::symbols_on(const std::string& name) const {
  expr::Symbols result = symbols;
  result.fields = point_sets.at(name).field_names();
  return result;
}

expr::NodePtr parse_expression(const Reader& reader, const std::string& key,
                               const std::string& text, const expr::Symbols& symbols) {
  try {
    return expr::parse(text, symbols);
  } catch (const expr::ParseError& error) {
    // Show the expression with a caret under the offending column.
    const std::string caret(static_cast<size_t>(std::max(error.column() - 1, 0)), ' ');
    throw InputError(reader.document().where(reader.pointer() / config::Pointer("/" + key)),
                     "column " + std::to_string(error.column()) + ": " + error.what() + "\n    " +
                         text + "\n    " + caret + "^");
  }
}

Problem read_problem(Reader& top, const std::string& base_directory, int seed) {
  Problem problem;
  std::set<std::string> taken;
  top.describe("inputs", "the names of the network's inputs, e.g. [\"x\", \"t\"]");
  problem.symbols.inputs = read_names(top, "inputs", taken);
  top.describe("outputs", "the names of the network's outputs, e.g. [\"u\"]");
  problem.symbols.outputs = read_names(top, "outputs", taken);
  top.describe("constants", "named numbers for the expressions, e.g. {\"nu\": 0.01}");
  problem.symbols.constants = read_numbers(top, "constants", taken);
  top.describe("parameters", "trainable numbers (inverse problems) and their initial values");
  for (const auto& [name, value] : read_numbers(top, "parameters", taken)) {
    problem.symbols.parameters.push_back(name);
    problem.parameter_initial_values.push_back(value);
  }
  top.describe("domains", "named geometries the point sets sample, each with a \"type\"");
  problem.domains = read_domains(top, problem.symbols.inputs);

  SamplingContext sampling;
  sampling.inputs = problem.symbols.inputs;
  sampling.base_directory = base_directory;
  sampling.default_seed = seed;
  sampling.domains = &problem.domains;
  top.describe("points", "named point sets: a domain's interior or boundary, a box, a CSV file");
  problem.point_sets = read_point_sets(top, sampling);
  top.describe("losses", "the loss terms: a residual or a condition on a point set, weighted");
  problem.losses = read_loss_terms(top, problem);
  SamplingContext reference_sampling = sampling;
  reference_sampling.default_seed = seed + 700000;
  top.describe("reference",
               "a known solution (expressions or a CSV file) the errors are measured against");
  problem.reference = read_reference(top, problem, reference_sampling);
  top.describe("evaluate", "point sets where the outputs and fields are written after training");
  problem.evaluations = read_evaluations(top, problem, sampling);
  return problem;
}

}  // namespace pinn::problem
