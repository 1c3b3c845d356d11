// Reading loss terms and turning conditions into residuals.
#include "problem/loss_terms.hpp"

#include <algorithm>
#include <functional>

#include "util/errors.hpp"
#include "util/names.hpp"
#include "util/registry.hpp"
#include "util/suggest.hpp"

namespace pinn::problem {

namespace {

using config::Reader;

// The condition's output ("output", default the first), checked against the outputs.
std::string read_output(Reader& reader, const Problem& problem) {
  const auto& outputs = problem.symbols.outputs;
  return reader.choice("output", outputs, outputs.front());
}

// An expression-valued key, checked on its own so that errors point at it; "(text)".
std::string read_part(Reader& reader, const std::string& key, const std::string& fallback,
                      const expr::Symbols& symbols) {
  const std::string text = reader.get_or(key, fallback);
  parse_expression(reader, key, text, symbols);
  return "(" + text + ")";
}

// Each condition type builds the residual text from its keys.
using ResidualBuilder =
    std::function<std::string(Reader&, const Problem&, const expr::Symbols& symbols)>;

std::string residual_of(Reader& reader, const Problem&, const expr::Symbols&) {
  return reader.get<std::string>("residual");
}

std::string dirichlet(Reader& reader, const Problem& problem, const expr::Symbols& symbols) {
  return read_output(reader, problem) + " - " + read_part(reader, "value", "0", symbols);
}

std::string neumann(Reader& reader, const Problem& problem, const expr::Symbols& symbols) {
  return "dn(" + read_output(reader, problem) + ") - " + read_part(reader, "value", "0", symbols);
}

// alpha*u + beta*dn(u) = value
std::string robin(Reader& reader, const Problem& problem, const expr::Symbols& symbols) {
  const std::string u = read_output(reader, problem);
  return read_part(reader, "alpha", "1", symbols) + "*" + u + " + " +
         read_part(reader, "beta", "1", symbols) + "*dn(" + u + ") - " +
         read_part(reader, "value", "0", symbols);
}

// u(x, t0) = value, or with "derivative": "t", u_t(x, t0) = value.
std::string initial(Reader& reader, const Problem& problem, const expr::Symbols& symbols) {
  std::string u = read_output(reader, problem);
  if (reader.has("derivative"))
    u = "d(" + u + ", " + reader.choice("derivative", problem.symbols.inputs) + ")";
  return u + " - " + read_part(reader, "value", "0", symbols);
}

// output - field: fits an output to a data column of the set. The outward normals n_<input> of
// boundary sets are fields too, but not data: a data term never defaults to (or accepts) them.
std::string data(Reader& reader, const Problem& problem, const expr::Symbols& symbols) {
  const std::string u = read_output(reader, problem);
  std::vector<std::string> columns;
  for (const auto& name : symbols.fields) {
    const bool normal = std::any_of(problem.symbols.inputs.begin(), problem.symbols.inputs.end(),
                                    [&](const std::string& input) { return name == "n_" + input; });
    if (!normal) columns.push_back(name);
  }
  if (columns.empty()) {
    reader.fail("points", "a data term needs a set read from a CSV file with \"fields\"");
  }
  const std::string field = reader.choice("field", columns, columns.front());
  return u + " - " + field;
}

std::string periodic(Reader& reader, const Problem& problem, const expr::Symbols&) {
  return reader.get_or("residual", problem.symbols.outputs.front());
}

// One record per term type: how its residual is built, and what the rest of the run needs to know
// of it.
struct TermType {
  ResidualBuilder build;
  bool pde;       // the residual is the user's own (a PDE), not a condition's
  bool periodic;  // compared with its points shifted (a partner set)
};

const Registry<TermType>& term_types() {
  // {build, pde, periodic}
  static const Registry<TermType> table("loss term type", {{"residual", {residual_of, true, false}},
                                                           {"dirichlet", {dirichlet, false, false}},
                                                           {"neumann", {neumann, false, false}},
                                                           {"robin", {robin, false, false}},
                                                           {"initial", {initial, false, false}},
                                                           {"data", {data, false, false}},
                                                           {"periodic", {periodic, false, true}}});
  return table;
}

// The periodic partner: the term's points shifted by "shift" ({"x": 2}), which must land on the
// boundary of the set's domain (the opposite face) when the set came from one.
std::string add_periodic_partner(Reader& reader, const LossTerm& term, Problem& problem) {
  const PointSet& set = problem.point_sets.at(term.points);
  Reader shift = reader.object("shift");
  auto offset = torch::zeros({problem.input_count()}, torch::kFloat64);
  bool any = false;
  for (size_t i = 0; i < problem.symbols.inputs.size(); ++i) {
    const auto value = shift.get_or(problem.symbols.inputs[i], 0.0);
    offset[static_cast<int64_t>(i)] = value;
    any |= value != 0.0;
  }
  shift.finish();
  if (!any) reader.fail("shift", "expected a non-zero shift, e.g. {\"x\": 2}");
  if (set.resample_every > 0 || set.refine.every > 0 || set.rad.every > 0) {
    reader.fail("points",
                "a periodic term's points must not be resampled, refined or redistributed");
  }
  // The partner keeps the set's fields, normals included: dn(u) then compares the same
  // directional derivative on both faces, which is what periodicity asks.
  PointSet partner;
  partner.sample.points = set.sample.points + offset;
  partner.sample.fields = set.sample.fields;
  if (set.domain) {
    const auto on_domain = set.domain->contains(partner.sample.points, true);
    const auto inside = set.domain->contains(partner.sample.points, false);
    const auto off = torch::logical_or(on_domain.logical_not(), inside);
    if (off.any().item<bool>()) {
      const auto index = off.nonzero()[0][0].item<int64_t>();
      std::string point;
      for (int64_t i = 0; i < problem.input_count(); ++i) {
        point += (i ? ", " : "") + problem.symbols.inputs[static_cast<size_t>(i)] + " = " +
                 std::to_string(partner.sample.points[index][i].item<double>());
      }
      reader.fail("shift", "mismatched periodic faces: the points of '" + term.points +
                               "' shifted this way leave the domain's boundary (e.g. at " + point +
                               ")");
    }
  }
  partner.domain = set.domain;
  const std::string name = term.points + "@" + term.name;
  problem.point_sets[name] = partner;
  return name;
}

// "causal": {"input": "t", "chunks": 32, "epsilon": 1.0}: the input must be one of the problem's
// and vary over the term's points (a set at t = 0 has nothing to order).
std::optional<CausalWeighting> read_causal(Reader& reader, const LossTerm& term,
                                           const Problem& problem) {
  reader.describe("causal",
                  "causal training: the points split by an input (time) into chunks of equal "
                  "count, chunk k weighted by exp(-epsilon * the mean squares of the chunks "
                  "before it)");
  if (!reader.has("causal")) {
    reader.accept("causal");
    return std::nullopt;
  }
  if (!term.partner.empty()) reader.fail("causal", "a periodic term cannot be causal");
  Reader causal = reader.object("causal");
  CausalWeighting weighting;
  const auto& inputs = problem.symbols.inputs;
  causal.describe("input", "the input that orders the points (time)");
  const std::string input = causal.get<std::string>("input");
  const auto found = std::find(inputs.begin(), inputs.end(), input);
  if (found == inputs.end()) {
    causal.fail("input", "the problem has no input '" + input + "'" + did_you_mean(input, inputs) +
                             "; its inputs are " + quoted_list(inputs, "and"));
  }
  weighting.input = static_cast<int>(found - inputs.begin());
  causal.describe("chunks", "how many chunks the points are split into, in order of the input");
  weighting.chunks = causal.positive_int("chunks", weighting.chunks);
  causal.describe("epsilon",
                  "the causality parameter: how strongly earlier chunks gate later ones");
  weighting.epsilon = causal.non_negative("epsilon", weighting.epsilon);
  causal.finish();
  const torch::Tensor column =
      problem.point_sets.at(term.points).sample.points.select(1, weighting.input);
  if (column.numel() == 0 || (column.max() - column.min()).item<double>() <= 0) {
    causal.fail("input", "every point of set '" + term.points + "' has the same " + input +
                             ": there is nothing to order by");
  }
  return weighting;
}

}  // namespace

std::vector<std::string> loss_term_types() {
  return term_types().names();
}

std::string read_point_set_name(Reader& reader, const std::string& key,
                                const std::map<std::string, PointSet>& sets) {
  const std::string name = reader.get<std::string>(key);
  if (!sets.count(name)) {
    std::vector<std::string> names;
    for (const auto& entry : sets)
      names.push_back(entry.first);
    reader.fail(key, "no point set named '" + name + "'" + did_you_mean(name, names) +
                         "; the sets are " + quoted_list(names, "and"));
  }
  return name;
}

namespace {

// "points": a set's name, or a list of names whose union the term is one mean over; the union is
// added to the problem's sets as "a+b" (once, however many terms use it).
std::string read_term_points(Reader& reader, Problem& problem) {
  reader.describe("points",
                  "the point set the term's mean is over, or a list of sets: one mean over their "
                  "union, e.g. [\"interior\", \"boundary\"]");
  if (!reader.has("points") || !reader.json("points").is_array()) {
    return read_point_set_name(reader, "points", problem.point_sets);
  }
  const auto names = reader.get<std::vector<std::string>>("points");
  if (names.empty()) reader.fail("points", "expected at least one point set name, found []");
  std::vector<std::string> known;
  for (const auto& entry : problem.point_sets) {
    if (entry.second.members.empty()) known.push_back(entry.first);
  }
  std::string joined;
  for (size_t k = 0; k < names.size(); ++k) {
    const std::string where =
        reader.document().where(reader.pointer() / config::Pointer("/points/" + std::to_string(k)));
    if (std::find(known.begin(), known.end(), names[k]) == known.end()) {
      throw InputError(where, "no point set named '" + names[k] + "'" +
                                  did_you_mean(names[k], known) + "; the sets are " +
                                  quoted_list(known, "and"));
    }
    if (std::find(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(k), names[k]) !=
        names.begin() + static_cast<std::ptrdiff_t>(k)) {
      throw InputError(where, "the set '" + names[k] + "' is listed twice");
    }
    joined += (k == 0 ? "" : "+") + names[k];
  }
  if (names.size() == 1) return names.front();
  if (!problem.point_sets.count(joined)) {
    problem.point_sets[joined] = union_of(names, problem.point_sets, reader.where("points"));
  }
  return joined;
}

}  // namespace

std::vector<LossTerm> read_loss_terms(Reader& top, Problem& problem) {
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
    reader.describe("type",
                    "residual (an expression that should vanish on the points) or a "
                    "condition that pinn-train writes as one");
    term.type = reader.choice("type", loss_term_types(), "residual");
    const TermType& type = term_types().get(term.type, reader.where("type"));
    term.pde = type.pde;
    term.points = read_term_points(reader, problem);
    const expr::Symbols symbols = problem.symbols_on(term.points);
    term.residual_text = type.build(reader, problem, symbols);
    // Condition types generate their text: errors in it point at the keys they came from.
    const bool written = reader.has("residual");
    term.residual =
        parse_expression(reader, written ? "residual" : "type", term.residual_text, symbols);
    reader.describe("weight",
                    "the term's weight, a number >= 0, or \"initial_inverse\": 1 / the term's "
                    "loss at step 0, fixed from then on");
    if (reader.has("weight") && reader.json("weight").is_string()) {
      reader.choice("weight", {"initial_inverse"});
      term.weight_initial_inverse = true;
    } else {
      term.weight = reader.non_negative("weight", 1.0);
    }
    if (type.periodic) term.partner = add_periodic_partner(reader, term, problem);
    term.causal = read_causal(reader, term, problem);
    reader.finish();
    losses.push_back(std::move(term));
  }
  return losses;
}

}  // namespace pinn::problem
