// The samplers: uniform in a box, normal, regular grid, and points from a CSV file.
#include "problem/sampler.hpp"

#include <functional>
#include <map>

#include "problem/csv.hpp"
#include "util/errors.hpp"
#include "util/suggest.hpp"

namespace pinn::problem {

namespace {

using Reader = config::Reader;
using SamplerFunction = std::function<torch::Tensor(Reader&, const SamplingContext&)>;

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
    const auto& value = bounds.json(input);
    if (value.is_number()) {
      const double fixed = value.get<double>();
      ranges.push_back({fixed, fixed});
      continue;
    }
    const auto pair = bounds.get<std::vector<double>>(input);
    if (pair.size() != 2 || !(pair[0] <= pair[1])) {
      bounds.fail(input, "expected [low, high] with low <= high, found " + value.dump());
    }
    ranges.push_back({pair[0], pair[1]});
  }
  bounds.finish();
  return ranges;
}

torch::Generator seeded_generator(Reader& reader, const SamplingContext& context) {
  const int seed = reader.get_or("seed", static_cast<int>(context.default_seed));
  auto generator = at::detail::createCPUGenerator(static_cast<uint64_t>(seed));
  return generator;
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

torch::Tensor sample_uniform(Reader& reader, const SamplingContext& context) {
  const int count = reader.positive_int("count");
  const auto ranges = read_bounds(reader, context);
  auto generator = seeded_generator(reader, context);
  auto points = torch::rand({count, static_cast<int64_t>(ranges.size())}, generator,
                            torch::dtype(torch::kFloat64));
  for (size_t i = 0; i < ranges.size(); ++i) {
    auto column = points.select(1, static_cast<int64_t>(i));
    column.mul_(ranges[i].high - ranges[i].low).add_(ranges[i].low);
  }
  return points;
}

torch::Tensor sample_normal(Reader& reader, const SamplingContext& context) {
  const int count = reader.positive_int("count");
  const auto mean = per_input(reader, "mean", 0.0, context);
  const auto deviation = per_input(reader, "std", 1.0, context);
  for (double value : deviation) {
    if (!(value > 0)) reader.fail("std", "expected a positive standard deviation");
  }
  auto generator = seeded_generator(reader, context);
  auto points = torch::randn({count, static_cast<int64_t>(mean.size())}, generator,
                             torch::dtype(torch::kFloat64));
  for (size_t i = 0; i < mean.size(); ++i) {
    points.select(1, static_cast<int64_t>(i)).mul_(deviation[i]).add_(mean[i]);
  }
  return points;
}

// A regular grid, the last input varying fastest. "count" applies to every ranged input unless
// "counts" names a count per input; fixed inputs take one value.
torch::Tensor sample_grid(Reader& reader, const SamplingContext& context) {
  const auto ranges = read_bounds(reader, context);
  std::vector<int> counts(ranges.size(), 0);
  if (reader.has("counts")) {
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
  return torch::stack(columns, 1);
}

torch::Tensor sample_file(Reader& reader, const SamplingContext& context) {
  const std::string name = reader.get<std::string>("path");
  std::filesystem::path path(name);
  if (path.is_relative()) path = context.base_directory / path;
  const CsvTable table = read_csv(path);
  if (table.rows.empty()) {
    throw InputError(reader.where("path"), path.string() + " holds no data rows");
  }
  return table.select(context.inputs, reader.where("path") + ": " + path.string());
}

const std::map<std::string, SamplerFunction>& registry() {
  static const std::map<std::string, SamplerFunction> samplers = {
      {"uniform", sample_uniform},
      {"normal", sample_normal},
      {"grid", sample_grid},
      {"file", sample_file},
  };
  return samplers;
}

}  // namespace

std::vector<std::string> sampler_names() {
  std::vector<std::string> names;
  for (const auto& entry : registry())
    names.push_back(entry.first);
  return names;
}

torch::Tensor sample_points(Reader& reader, const SamplingContext& context) {
  const std::string type = reader.choice("sampler", sampler_names());
  torch::Tensor points = registry().at(type)(reader, context);
  reader.finish();
  return points;
}

}  // namespace pinn::problem
