// Reading point sets: box samplers (uniform, normal, grid and the unit-cube sequences in
// "bounds"), domain samplers (interior, boundary parts, initial slice, with normals), and CSV
// files (points plus data columns as fields).
#include "problem/point_set.hpp"

#include <algorithm>
#include <iomanip>
#include <map>
#include <sstream>

#include "geometry/sequence.hpp"
#include "problem/csv.hpp"
#include "util/errors.hpp"
#include "util/memory.hpp"
#include "util/registry.hpp"
#include "util/suggest.hpp"

namespace pinn::problem {

namespace {

using Reader = config::Reader;

struct Range {
  double low = 0.0;
  double high = 0.0;
  bool fixed() const { return low == high; }
};

// "bounds": {"x": [-1, 1], "y": 0.5}: one entry per input, a [low, high] pair or a fixed value.
std::vector<Range> read_bounds(Reader& reader, const SamplingContext& context) {
  Reader bounds = reader.object("bounds");
  std::vector<Range> ranges;
  for (const auto& input : context.inputs) {
    bounds.accept(input);
    if (!bounds.has(input)) {
      bounds.fail_here("missing the range of input '" + input + "' (give [low, high] or a value)");
    }
    if (bounds.json(input).is_number()) {
      const double fixed = bounds.get<double>(input);
      ranges.push_back({fixed, fixed});
      continue;
    }
    const auto pair = bounds.get<std::vector<double>>(input);
    if (pair.size() != 2 || !(pair[0] <= pair[1])) {
      bounds.fail(input,
                  "expected [low, high] with low <= high, found " + bounds.json(input).dump());
    }
    ranges.push_back({pair[0], pair[1]});
  }
  bounds.finish();
  return ranges;
}

int64_t read_seed(Reader& reader, const SamplingContext& context) {
  return reader.get_or("seed", static_cast<int>(context.default_seed));
}

// Seeds of later draws (resampling, refinement candidates): distinct from every initial seed.
uint64_t round_seed(int64_t seed, uint64_t round) {
  return static_cast<uint64_t>(seed) + 7919u * round;
}

// A per-input number: one value for all inputs, or {"x": 0, "y": 1}.
std::vector<double> per_input(Reader& reader, const std::string& key, double fallback,
                              const SamplingContext& context) {
  if (reader.has(key) && reader.json(key).is_object()) {
    Reader values = reader.object(key);
    std::vector<double> result;
    for (const auto& input : context.inputs)
      result.push_back(values.get_or(input, fallback));
    values.finish();
    return result;
  }
  return std::vector<double>(context.inputs.size(), reader.get_or(key, fallback));
}

// The points of a set take count x inputs doubles before any training: a count that could never
// fit is refused here rather than by a failed allocation.
void check_point_memory(Reader& reader, const std::string& key, double count,
                        const SamplingContext& context) {
  const double bytes = count * static_cast<double>(context.inputs.size()) * sizeof(double);
  std::ostringstream what;
  what << std::setprecision(15) << count << " points of " << context.inputs.size() << " inputs";
  util::check_fits_in_memory(bytes, what.str(), reader.where(key));
}

int read_count(Reader& reader, const SamplingContext& context) {
  const int count = reader.positive_int("count");
  check_point_memory(reader, "count", count, context);
  return count;
}

void scale_into(torch::Tensor& points, const std::vector<Range>& ranges) {
  for (size_t i = 0; i < ranges.size(); ++i) {
    points.select(1, static_cast<int64_t>(i))
        .mul_(ranges[i].high - ranges[i].low)
        .add_(ranges[i].low);
  }
}

// Uniform in the box: torch::rand from the set's seed.
PointSet sample_uniform(Reader& reader, const SamplingContext& context) {
  const int count = read_count(reader, context);
  const auto ranges = read_bounds(reader, context);
  const int64_t seed = read_seed(reader, context);
  PointSet set;
  set.draw = [ranges, seed](uint64_t round, int64_t n) {
    auto generator = at::detail::createCPUGenerator(round_seed(seed, round));
    auto points = torch::rand({n, static_cast<int64_t>(ranges.size())}, generator,
                              torch::dtype(torch::kFloat64));
    scale_into(points, ranges);
    return Sample{points, {}};
  };
  set.sample = set.draw(0, count);
  return set;
}

// A unit-cube sequence (lhs, sobol, halton, hammersley) mapped onto the box.
PointSet sample_sequence_in_box(const std::string& sequence, Reader& reader,
                                const SamplingContext& context) {
  const int count = read_count(reader, context);
  const auto ranges = read_bounds(reader, context);
  const int64_t seed = read_seed(reader, context);
  PointSet set;
  set.draw = [sequence, ranges, seed](uint64_t round, int64_t n) {
    auto points = geometry::unit_cube_samples(sequence, n, static_cast<int>(ranges.size()),
                                              round_seed(seed, round));
    scale_into(points, ranges);
    return Sample{points, {}};
  };
  set.sample = set.draw(0, count);
  return set;
}

PointSet sample_normal(Reader& reader, const SamplingContext& context) {
  const int count = read_count(reader, context);
  const auto mean = per_input(reader, "mean", 0.0, context);
  const auto deviation = per_input(reader, "std", 1.0, context);
  for (double value : deviation) {
    if (!(value > 0)) reader.fail("std", "expected a positive standard deviation");
  }
  const int64_t seed = read_seed(reader, context);
  PointSet set;
  set.draw = [mean, deviation, seed](uint64_t round, int64_t n) {
    auto generator = at::detail::createCPUGenerator(round_seed(seed, round));
    auto points = torch::randn({n, static_cast<int64_t>(mean.size())}, generator,
                               torch::dtype(torch::kFloat64));
    for (size_t i = 0; i < mean.size(); ++i) {
      points.select(1, static_cast<int64_t>(i)).mul_(deviation[i]).add_(mean[i]);
    }
    return Sample{points, {}};
  };
  set.sample = set.draw(0, count);
  return set;
}

// A regular grid, the last input varying fastest. "count" applies to every ranged input unless
// "counts" names a count per input; fixed inputs take one value.
PointSet sample_grid(Reader& reader, const SamplingContext& context) {
  const auto ranges = read_bounds(reader, context);
  std::vector<int> counts(ranges.size(), 0);
  const bool counts_per_input = reader.has("counts");
  if (counts_per_input) {
    Reader per = reader.object("counts");
    for (size_t i = 0; i < ranges.size(); ++i) {
      if (ranges[i].fixed()) continue;
      counts[i] = per.positive_int(context.inputs[i]);
    }
    per.finish();
  } else {
    const int count = reader.positive_int("count");
    for (size_t i = 0; i < ranges.size(); ++i)
      counts[i] = ranges[i].fixed() ? 1 : count;
  }
  double total = 1;  // a double: the product of the counts may not fit an integer
  for (size_t i = 0; i < ranges.size(); ++i)
    total *= ranges[i].fixed() ? 1 : counts[i];
  check_point_memory(reader, counts_per_input ? "counts" : "count", total, context);
  std::vector<torch::Tensor> axes;
  for (size_t i = 0; i < ranges.size(); ++i) {
    const int n = ranges[i].fixed() ? 1 : counts[i];
    if (!ranges[i].fixed() && n < 2) {
      reader.fail("count", "a grid needs at least 2 points along '" + context.inputs[i] + "'");
    }
    axes.push_back(torch::linspace(ranges[i].low, ranges[i].high, n, torch::kFloat64));
  }
  auto mesh = torch::meshgrid(axes, "ij");
  std::vector<torch::Tensor> columns;
  for (auto& axis : mesh)
    columns.push_back(axis.reshape({-1}));
  PointSet set;
  set.sample.points = torch::stack(columns, 1);
  return set;
}

// "fields": ["u_obs"] loads those columns as fields of the same name; {"u_obs": "u"} renames.
std::map<std::string, std::string> read_field_columns(Reader& reader,
                                                      const SamplingContext& context) {
  std::map<std::string, std::string> fields;  // field name -> CSV column
  if (!reader.has("fields")) return fields;
  if (reader.json("fields").is_object()) {
    Reader mapping = reader.object("fields");
    for (const auto& name : mapping.keys())
      fields[name] = mapping.get<std::string>(name);
    mapping.finish();
  } else {
    for (const auto& name : reader.get<std::vector<std::string>>("fields"))
      fields[name] = name;
  }
  for (const auto& entry : fields) {
    if (std::find(context.inputs.begin(), context.inputs.end(), entry.first) !=
        context.inputs.end()) {
      reader.fail("fields", "the field name '" + entry.first + "' is an input; rename it: {\"" +
                                entry.first + "_data\": \"" + entry.second + "\"}");
    }
  }
  return fields;
}

PointSet sample_file(Reader& reader, const SamplingContext& context) {
  const std::string name = reader.get<std::string>("path");
  std::filesystem::path path(name);
  if (path.is_relative()) path = context.base_directory / path;
  const auto fields = read_field_columns(reader, context);
  const CsvTable table = read_csv_at(reader, "path", path);
  if (table.rows.empty()) {
    throw InputError(reader.where("path"), path.string() + " holds no data rows");
  }
  const std::string source = reader.where("path") + ": " + path.string();
  PointSet set;
  set.sample.points = table.select(context.inputs, source);
  for (const auto& [field, column] : fields)
    set.sample.fields[field] = table.select({column}, source).select(1, 0);
  return set;
}

// The domain's columns reordered into the problem's input order.
torch::Tensor in_input_order(const torch::Tensor& columns, const geometry::Domain& domain,
                             const std::vector<std::string>& inputs) {
  std::vector<int64_t> order;
  for (const auto& input : inputs) {
    const auto& axes = domain.axes();
    order.push_back(std::find(axes.begin(), axes.end(), input) - axes.begin());
  }
  return columns.index_select(1, torch::tensor(order, torch::kLong));
}

geometry::DomainPtr read_domain_name(Reader& reader, const SamplingContext& context) {
  const std::string name = reader.get<std::string>("domain");
  std::vector<std::string> names;
  for (const auto& entry : *context.domains)
    names.push_back(entry.first);
  const auto found = context.domains->find(name);
  if (found == context.domains->end()) {
    reader.fail("domain", "no domain named '" + name + "'" + did_you_mean(name, names) +
                              (names.empty() ? "; define it under \"domains\""
                                             : "; the domains are " + quoted_list(names, "and")));
  }
  std::vector<std::string> axes = found->second->axes();
  std::vector<std::string> inputs = context.inputs;
  std::sort(axes.begin(), axes.end());
  std::sort(inputs.begin(), inputs.end());
  if (axes != inputs) {
    reader.fail("domain",
                "the domain '" + name + "' spans " + quoted_list(found->second->axes(), "and") +
                    ", but the problem's inputs are " + quoted_list(context.inputs, "and") +
                    " (a domain in space and time is a \"spacetime\" domain)");
  }
  return found->second;
}

std::vector<std::string> read_parts(Reader& reader, const geometry::Domain& domain) {
  std::vector<std::string> parts;
  if (reader.has("parts")) {
    parts = reader.get<std::vector<std::string>>("parts");
  } else if (reader.has("part")) {
    parts = {reader.get<std::string>("part")};
  }
  reader.accept("parts");
  reader.accept("part");
  const auto known = domain.boundary_parts();
  for (const auto& part : parts) {
    if (std::find(known.begin(), known.end(), part) == known.end()) {
      reader.fail(reader.has("parts") ? "parts" : "part",
                  "the domain has no boundary part '" + part + "'" + did_you_mean(part, known) +
                      "; its parts are " + quoted_list(known, "and"));
    }
  }
  return parts;
}

// Points of a domain: its interior, (parts of) its boundary with normals, or the initial slice
// of a spacetime domain.
PointSet sample_domain(const std::string& sequence, Reader& reader,
                       const SamplingContext& context) {
  PointSet set;
  set.domain = read_domain_name(reader, context);
  set.region = reader.choice("region", {"interior", "boundary", "initial"}, "interior");
  const int count = read_count(reader, context);
  std::vector<std::string> parts = read_parts(reader, *set.domain);
  if (set.region == "interior" && !parts.empty()) {
    reader.fail("parts", "boundary parts apply to \"region\": \"boundary\" only");
  }
  if (set.region == "initial") {
    const auto known = set.domain->boundary_parts();
    if (std::find(known.begin(), known.end(), "initial") == known.end()) {
      reader.fail("region", "\"initial\" needs a spacetime domain");
    }
    parts = {"initial"};
  }
  const int64_t seed = read_seed(reader, context);
  const auto domain = set.domain;
  const auto inputs = context.inputs;
  const bool interior = set.region == "interior";
  set.draw = [=](uint64_t round, int64_t n) {
    Sample sample;
    if (interior) {
      sample.points = in_input_order(domain->sample_interior(n, sequence, round_seed(seed, round)),
                                     *domain, inputs);
      return sample;
    }
    const auto boundary = domain->sample_boundary(n, parts, sequence, round_seed(seed, round));
    sample.points = in_input_order(boundary.points, *domain, inputs);
    const auto normals = in_input_order(boundary.normals, *domain, inputs);
    for (size_t i = 0; i < inputs.size(); ++i)
      sample.fields["n_" + inputs[i]] = normals.select(1, static_cast<int64_t>(i)).contiguous();
    return sample;
  };
  try {
    set.sample = set.draw(0, count);
  } catch (const std::invalid_argument& error) {
    reader.fail_here(error.what());
  }
  return set;
}

using SamplerFunction = std::function<PointSet(Reader&, const SamplingContext&)>;

// The samplers of a box ("bounds"): the four of their own, and every other unit-cube sequence.
const Registry<SamplerFunction>& box_samplers() {
  static const Registry<SamplerFunction> table = [] {
    Registry<SamplerFunction> samplers("sampler", {{"uniform", sample_uniform},
                                                   {"normal", sample_normal},
                                                   {"grid", sample_grid},
                                                   {"file", sample_file}});
    for (const auto& sequence : geometry::sequence_names()) {
      if (samplers.contains(sequence)) continue;
      samplers.add(sequence, [sequence](Reader& reader, const SamplingContext& context) {
        return sample_sequence_in_box(sequence, reader, context);
      });
    }
    return samplers;
  }();
  return table;
}

// The default candidate count, capped where ten times the count would overflow an int.
int ten_times(int count) {
  return static_cast<int>(std::min<int64_t>(10 * static_cast<int64_t>(count), 2000000000));
}

void read_refinement(Reader& reader, PointSet& set) {
  set.resample_every = reader.get_or("resample_every", 0);
  if (set.resample_every < 0) reader.fail("resample_every", "expected a count of steps >= 0");
  if (reader.has("refine")) {
    Reader refine = reader.object("refine");
    set.refine.every = refine.positive_int("every");
    set.refine.add = refine.positive_int("add");
    set.refine.candidates = refine.positive_int("candidates", ten_times(set.refine.add));
    set.refine.until = refine.get_or("until", 0);
    if (set.refine.until < 0) refine.fail("until", "expected a step >= 0");
    if (set.refine.candidates < set.refine.add) {
      refine.fail("candidates", "expected at least as many candidates as points to add");
    }
    refine.finish();
  }
  if (reader.has("rad")) {
    Reader rad = reader.object("rad");
    set.rad.every = rad.positive_int("every");
    set.rad.count = rad.positive_int("count", static_cast<int>(set.size()));
    set.rad.candidates = rad.positive_int("candidates", ten_times(set.rad.count));
    set.rad.k = rad.non_negative("k", set.rad.k);
    set.rad.c = rad.non_negative("c", set.rad.c);
    set.rad.until = rad.get_or("until", 0);
    if (set.rad.until < 0) rad.fail("until", "expected a step >= 0");
    if (set.rad.candidates < set.rad.count) {
      rad.fail("candidates", "expected at least as many candidates as points to keep (" +
                                 std::to_string(set.rad.count) + ")");
    }
    rad.finish();
  }
  if ((set.resample_every > 0 || set.refine.every > 0 || set.rad.every > 0) && !set.draw) {
    reader.fail(set.resample_every > 0 ? "resample_every"
                : set.refine.every > 0 ? "refine"
                                       : "rad",
                "this set cannot be drawn again (a grid or a file)");
  }
}

}  // namespace

std::vector<std::string> PointSet::field_names() const {
  std::vector<std::string> names;
  for (const auto& entry : sample.fields)
    names.push_back(entry.first);
  return names;
}

namespace {

// The fields every one of `sets` has.
std::vector<std::string> common_fields(const std::vector<const PointSet*>& sets) {
  std::vector<std::string> common = sets.front()->field_names();
  for (const PointSet* set : sets) {
    const auto own = set->field_names();
    common.erase(std::remove_if(common.begin(), common.end(),
                                [&](const std::string& name) {
                                  return std::find(own.begin(), own.end(), name) == own.end();
                                }),
                 common.end());
  }
  return common;
}

Sample join_samples(const std::vector<Sample>& samples, const std::vector<std::string>& fields) {
  Sample joined;
  std::vector<torch::Tensor> points;
  for (const auto& sample : samples)
    points.push_back(sample.points);
  joined.points = torch::cat(points, 0);
  for (const auto& name : fields) {
    std::vector<torch::Tensor> columns;
    for (const auto& sample : samples)
      columns.push_back(sample.fields.at(name));
    joined.fields[name] = torch::cat(columns, 0);
  }
  return joined;
}

}  // namespace

PointSet union_of(const std::vector<std::string>& members,
                  const std::map<std::string, PointSet>& sets, const std::string& where) {
  std::vector<const PointSet*> parts;
  for (const auto& name : members) {
    const PointSet& part = sets.at(name);
    if (part.refine.every > 0 || part.rad.every > 0) {
      throw InputError(where, "set '" + name +
                                  "' refines its points (refine or rad) by the residuals of its "
                                  "own terms; a set in a list of sets cannot");
    }
    if (part.resample_every != sets.at(members.front()).resample_every) {
      throw InputError(where, "the sets of a list are drawn anew together: give '" +
                                  members.front() + "' and '" + name + "' the same resample_every");
    }
    parts.push_back(&part);
  }
  const std::vector<std::string> fields = common_fields(parts);
  std::vector<Sample> samples;
  for (const PointSet* part : parts)
    samples.push_back(part->sample);
  PointSet joined;
  joined.sample = join_samples(samples, fields);
  joined.members = members;
  joined.resample_every = parts.front()->resample_every;
  const bool drawable = std::all_of(parts.begin(), parts.end(),
                                    [](const PointSet* part) { return bool(part->draw); });
  if (drawable) {
    std::vector<int64_t> sizes;
    std::vector<std::function<Sample(uint64_t, int64_t)>> draws;
    for (const PointSet* part : parts) {
      sizes.push_back(part->size());
      draws.push_back(part->draw);
    }
    // Each member draws its share of `count`, in proportion to its own size.
    joined.draw = [sizes, draws, fields](uint64_t round, int64_t count) {
      int64_t total = 0;
      for (int64_t size : sizes)
        total += size;
      std::vector<Sample> drawn;
      int64_t given = 0;
      for (size_t k = 0; k < draws.size(); ++k) {
        const int64_t share =
            k + 1 == draws.size() ? count - given : count * sizes[k] / std::max<int64_t>(total, 1);
        given += share;
        drawn.push_back(draws[k](round, share));
      }
      return join_samples(drawn, fields);
    };
  }
  return joined;
}

std::vector<std::string> sampler_names() {
  return box_samplers().names();
}

PointSet read_point_set(Reader& reader, const SamplingContext& context) {
  PointSet set;
  reader.describe("domain",
                  "the domain sampled (with \"region\"); without it, \"bounds\" or a file");
  reader.describe("sampler", "how the points are drawn (a sequence, a grid, a file, ...)");
  if (reader.has("domain")) {
    const auto sequences = geometry::sequence_names();
    set = sample_domain(reader.choice("sampler", sequences, "uniform"), reader, context);
  } else {
    const std::string type = reader.choice("sampler", sampler_names());
    set = box_samplers().make(type, reader.where("sampler"), reader, context);
  }
  read_refinement(reader, set);
  reader.finish();
  return set;
}

}  // namespace pinn::problem
