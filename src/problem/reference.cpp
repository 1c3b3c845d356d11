// Reading the reference solution and its measuring points.
#include "problem/reference.hpp"

#include <algorithm>

#include "problem/csv.hpp"
#include "problem/loss_terms.hpp"
#include "util/errors.hpp"
#include "util/suggest.hpp"

namespace pinn::problem {

namespace {

using config::Reader;

// Points given by name or as an inline sampler object.
torch::Tensor read_points(Reader& reader, const Problem& problem, const SamplingContext& context) {
  if (reader.json("points").is_object()) {
    Reader sampler = reader.object("points");
    return read_point_set(sampler, context).sample.points;
  }
  return problem.point_sets.at(read_point_set_name(reader, "points", problem.point_sets))
      .sample.points;
}

// "solution": {"u": "sin(pi*x)*exp(-t)"}: each expression evaluated at the points.
void read_solution(Reader& reader, const Problem& problem, const SamplingContext& context,
                   Reference& reference) {
  if (!reader.has("points")) {
    reader.fail_here(
        "a \"solution\" needs \"points\" where it is compared (a set's name or a "
        "sampler, e.g. a grid)");
  }
  reference.points = read_points(reader, problem, context);
  Reader solution = reader.object("solution");
  expr::Symbols symbols = problem.symbols;
  symbols.outputs.clear();  // a solution is a function of the inputs only
  symbols.parameters.clear();
  std::vector<torch::Tensor> columns;
  for (const auto& name : solution.keys()) {
    const auto& outputs = problem.symbols.outputs;
    const auto found = std::find(outputs.begin(), outputs.end(), name);
    if (found == outputs.end()) solution.fail(name, "'" + name + "' is not an output");
    const auto text = solution.get<std::string>(name);
    const auto node = parse_expression(solution, name, text, symbols);
    columns.push_back(expr::evaluate(*node, {reference.points, nullptr, nullptr, nullptr}));
    reference.outputs.push_back(static_cast<int>(found - outputs.begin()));
  }
  solution.finish();
  if (columns.empty()) solution.fail_here("expected at least one output, e.g. {\"u\": \"...\"}");
  reference.values = torch::stack(columns, 1);
}

// "file": "ref.csv" with input columns and one column per output ("columns" renames them).
void read_file(Reader& reader, const Problem& problem, const SamplingContext& context,
               Reference& reference) {
  std::filesystem::path path(reader.get<std::string>("file"));
  if (path.is_relative()) path = context.base_directory / path;
  const CsvTable table = read_csv_at(reader, "file", path);
  const std::string source = reader.where("file") + ": " + path.string();
  if (table.rows.empty()) throw InputError(source, "holds no data rows");
  std::map<std::string, std::string> columns;  // output -> column
  if (reader.has("columns")) {
    Reader mapping = reader.object("columns");
    for (const auto& output : problem.symbols.outputs) {
      if (mapping.has(output)) columns[output] = mapping.get<std::string>(output);
    }
    mapping.finish();
  } else {
    for (const auto& output : problem.symbols.outputs) {
      if (table.column_index(output) >= 0) columns[output] = output;
    }
  }
  if (columns.empty()) {
    throw InputError(source, "has no column for any output (" +
                                 quoted_list(problem.symbols.outputs, "or") +
                                 "); name them in \"columns\": {\"u\": \"u_exact\"}");
  }
  if (reader.has("points")) {
    reader.fail("points", "a reference file brings its own points (its input columns)");
  }
  reference.points = table.select(problem.symbols.inputs, source);
  std::vector<std::string> names;
  for (size_t o = 0; o < problem.symbols.outputs.size(); ++o) {
    const auto found = columns.find(problem.symbols.outputs[o]);
    if (found == columns.end()) continue;
    names.push_back(found->second);
    reference.outputs.push_back(static_cast<int>(o));
  }
  reference.values = table.select(names, source);
}

void read_residual_terms(Reader& reader, const Problem& problem, Reference& reference) {
  const auto names = reader.get_or("residuals", std::vector<std::string>{});
  std::vector<std::string> terms;
  for (const auto& term : problem.losses)
    terms.push_back(term.name);
  for (const auto& name : names) {
    const auto found = std::find(terms.begin(), terms.end(), name);
    if (found == terms.end()) {
      reader.fail("residuals", "no loss term named '" + name + "'" + did_you_mean(name, terms));
    }
    const size_t index = static_cast<size_t>(found - terms.begin());
    const auto& term = problem.losses[index];
    if (!problem.point_sets.at(term.points).sample.fields.empty() || !term.partner.empty()) {
      reader.fail("residuals", "the term '" + name +
                                   "' reads normals or data of its own points; only terms "
                                   "without them can be measured at the reference points");
    }
    reference.residual_terms.push_back(index);
  }
}

}  // namespace

Reference read_reference(Reader& top, const Problem& problem, const SamplingContext& context) {
  Reference reference;
  if (!top.has("reference")) return reference;
  Reader reader = top.object("reference");
  if (reader.has("solution") == reader.has("file")) {
    reader.fail_here("expected either \"solution\" (expressions) or \"file\" (a CSV file)");
  }
  if (reader.has("solution")) {
    read_solution(reader, problem, context, reference);
  } else {
    read_file(reader, problem, context, reference);
  }
  reader.accept("points");
  reference.every = reader.get_or("every", 0);
  if (reference.every < 0) reader.fail("every", "expected a count of steps >= 0");
  read_residual_terms(reader, problem, reference);
  reader.finish();
  return reference;
}

}  // namespace pinn::problem
