// Reading the problem from the config: names, point sets, loss terms and evaluation sets.
#include "problem/problem.hpp"

#include <algorithm>
#include <cctype>

#include "problem/sampler.hpp"
#include "util/errors.hpp"
#include "util/suggest.hpp"

namespace pinn::problem {

namespace {

using config::Reader;

bool is_identifier(const std::string& name) {
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Inputs, outputs and constants share one namespace with the expression language.
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

std::map<std::string, double> read_constants(Reader& top, std::set<std::string>& taken) {
  std::map<std::string, double> constants;
  if (!top.has("constants")) {
    top.get_or("constants", config::Json::object());
    return constants;
  }
  Reader reader = top.object("constants");
  for (const auto& name : reader.keys()) {
    check_new_name(reader, name, name, taken);
    taken.insert(name);
    constants[name] = reader.get<double>(name);
  }
  reader.finish();
  return constants;
}

std::map<std::string, torch::Tensor> read_point_sets(Reader& top, const SamplingContext& base) {
  Reader sets = top.object("points");
  std::map<std::string, torch::Tensor> point_sets;
  int index = 0;
  for (const auto& name : sets.keys()) {
    Reader set = sets.object(name);
    SamplingContext context = base;
    context.default_seed = base.default_seed + 1000 * (++index);  // distinct, stable per set
    point_sets[name] = sample_points(set, context);
  }
  if (point_sets.empty()) sets.fail_here("expected at least one named point set");
  sets.finish();
  return point_sets;
}

std::string read_point_set_name(Reader& reader, const std::map<std::string, torch::Tensor>& sets) {
  const std::string name = reader.get<std::string>("points");
  if (!sets.count(name)) {
    std::vector<std::string> names;
    for (const auto& entry : sets)
      names.push_back(entry.first);
    reader.fail("points", "no point set named '" + name + "'" + did_you_mean(name, names) +
                              "; the sets are " + quoted_list(names, "and"));
  }
  return name;
}

std::vector<LossTerm> read_losses(Reader& top, const Problem& problem) {
  std::vector<LossTerm> losses;
  std::set<std::string> names;
  auto readers = top.objects("losses");
  if (readers.empty()) top.fail("losses", "expected at least one loss term, found an empty list");
  for (size_t i = 0; i < readers.size(); ++i) {
    Reader& reader = readers[i];
    LossTerm term;
    term.name = reader.get_or("name", "term" + std::to_string(i));
    if (!is_identifier(term.name)) {
      reader.fail("name", "'" + term.name + "' is not a valid term name (letters, digits, _)");
    }
    if (!names.insert(term.name).second) {
      reader.fail("name", "the loss term name '" + term.name + "' is used twice");
    }
    term.points = read_point_set_name(reader, problem.point_sets);
    term.residual_text = reader.get<std::string>("residual");
    term.residual = parse_expression(reader, "residual", term.residual_text, problem.symbols);
    term.weight = reader.non_negative("weight", 1.0);
    reader.finish();
    losses.push_back(std::move(term));
  }
  return losses;
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
    if (reader.has("points") && reader.json("points").is_object()) {
      Reader sampler = reader.object("points");
      SamplingContext context = base;
      context.default_seed = base.default_seed + 500000 + static_cast<int64_t>(i);
      set.points = sample_points(sampler, context);
    } else {
      set.points = problem.point_sets.at(read_point_set_name(reader, problem.point_sets));
    }
    set.field_names = reader.get_or("fields", problem.symbols.outputs);
    if (set.field_names.empty()) reader.fail("fields", "expected at least one field");
    for (size_t f = 0; f < set.field_names.size(); ++f) {
      set.fields.push_back(parse_expression(reader, "fields/" + std::to_string(f),
                                            set.field_names[f], problem.symbols));
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
    if (term.points == name) expr::collect_channels(*term.residual, channels);
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
  problem.symbols.inputs = read_names(top, "inputs", taken);
  problem.symbols.outputs = read_names(top, "outputs", taken);
  problem.symbols.constants = read_constants(top, taken);

  SamplingContext sampling;
  sampling.inputs = problem.symbols.inputs;
  sampling.base_directory = base_directory;
  sampling.default_seed = seed;
  problem.point_sets = read_point_sets(top, sampling);
  problem.losses = read_losses(top, problem);
  problem.evaluations = read_evaluations(top, problem, sampling);
  return problem;
}

}  // namespace pinn::problem
