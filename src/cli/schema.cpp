// The probes the readers are explored on, and the schema command.
#include "cli/schema.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/setup.hpp"
#include "config/json_schema.hpp"
#include "config/schema_recorder.hpp"
#include "util/errors.hpp"
#include "util/files.hpp"

namespace pinn::cli {

namespace {

namespace fs = std::filesystem;
using config::Json;

// More runs than the readers' branches need (a few thousand): a bound, not a budget.
constexpr int kMaxRuns = 50000;

// Names of the probes' CSV columns, before each probe's suffix.
const std::vector<std::string> kColumns = {"x", "t", "u", "w"};

// One probe: a small valid problem (inputs x and t, output u, three domains, three point sets, a
// loss term) that names everything with `suffix`, plus an empty domain, point set and loss term
// and an empty network and stage for the recorder to fill in every way the readers accept. Where
// the readers look a name up (a set, a domain, a loss term, an input), the probe has one.
struct Probe {
  std::string suffix;
  int seed = 0;         // differs between probes: the defaults drawn from it differ too
  int iterations = 0;   // 0: the stage's default; else set (a cosine schedule's default)
  int extra_terms = 0;  // loss terms before the empty one: its default name differs

  std::string name(const std::string& base) const { return base + suffix; }

  Json config() const {
    const std::string x = name("x"), t = name("t"), u = name("u");
    Json unit = Json::array({0, 1});
    Json probe = {
        {"inputs", {x, t}},
        {"outputs", {u}},
        {"domains",
         {{name("line"), {{"type", "interval"}, {"bounds", {{x, unit}}}}},
          {name("line2"), {{"type", "interval"}, {"bounds", {{x, {0.25, 0.5}}}}}},
          {name("plane"), {{"type", "box"}, {"bounds", {{x, unit}, {t, unit}}}}},
          {name("shape"), Json::object()}}},
        {"points",
         {{name("inner"),
           {{"sampler", "uniform"}, {"count", 3}, {"bounds", {{x, unit}, {t, unit}}}}},
          {name("edge"), {{"domain", name("plane")}, {"region", "boundary"}, {"count", 3}}},
          {name("data"), {{"sampler", "file"}, {"path", "probe.csv"}, {"fields", {name("w")}}}},
          {name("set"), Json::object()}}},
        {"losses", Json::array()},
        {"network", Json::object()},
        {"training", Json::array({Json::object()})},
    };
    for (int i = 0; i <= extra_terms; ++i) {
      probe["losses"].push_back({{"name", name("pde") + (i ? std::to_string(i) : "")},
                                 {"points", name("inner")},
                                 {"residual", u}});
    }
    probe["losses"].push_back(Json::object());
    if (seed) probe["seed"] = seed;
    if (iterations) probe["training"][0]["iterations"] = iterations;
    return probe;
  }

  // What the recorder hands out where the probe has no value: this probe's names first.
  config::ProbeValues values() const {
    config::ProbeValues values;
    const std::string x = name("x"), t = name("t"), u = name("u");
    values.number = suffix.empty() ? 0.5 : 0.25;
    values.integer = suffix.empty() ? 3 : 4;
    values.boolean = !suffix.empty();
    values.numbers = suffix.empty() ? std::vector<double>{0, 1} : std::vector<double>{0, 2};
    values.integers = {suffix.empty() ? 0 : 1};
    values.strings = {
        x,           u,           name("line"), name("plane"), name("inner"), name("data"),
        name("pde"), "probe.csv", x + "_min",   name("w"),     name("edge")};
    values.string_lists = {{x, t},        {u},          {name("line"), name("line2")},
                           {name("pde")}, {x + "_min"}, {name("w")}};
    values.key_lists = {{x}, {t}, {x, t}, {u}, {name("k")}};
    values.values = {Json::array({{0, 0}, {1, 0}, {0, 1}})};  // a triangle (polygon vertices)
    return values;
  }

  std::vector<config::RunNotes> explore(const fs::path& directory) const {
    config::SchemaRecorder recorder(values());
    const auto read = [&](config::Document& document) {
      Setup setup;
      setup.document = std::move(document);
      read_config(setup, name("probe"), directory.string());
    };
    return recorder.explore(config(), "schema probe", read, kMaxRuns);
  }
};

// probe.csv in a temporary folder, for the probes' file sets and references: a column per name
// of kColumns in each probe, two rows.
struct ProbeFiles {
  fs::path directory;

  explicit ProbeFiles(const std::vector<Probe>& probes) {
    std::string pattern = (fs::temp_directory_path() / "pinn-train-schema-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      throw OutputError("cannot create a temporary folder in " + pattern);
    directory = pattern;
    std::string header, low, high;
    for (const auto& probe : probes) {
      for (const auto& column : kColumns) {
        const std::string comma = header.empty() ? "" : ",";
        header += comma + probe.name(column);
        low += comma + "0.25";
        high += comma + "0.75";
      }
    }
    write_text_atomically(directory / "probe.csv", header + "\n" + low + "\n" + high + "\n");
  }
  ~ProbeFiles() { remove_tree(directory); }
  ProbeFiles(const ProbeFiles&) = delete;
  ProbeFiles& operator=(const ProbeFiles&) = delete;
};

// The probe runs fail by design (so the recorder learns which alternatives the readers refuse),
// and their warnings are not the user's: logging is off while they run.
class QuietLogs {
 public:
  QuietLogs() : level_(spdlog::get_level()) { spdlog::set_level(spdlog::level::off); }
  ~QuietLogs() { spdlog::set_level(level_); }
  QuietLogs(const QuietLogs&) = delete;
  QuietLogs& operator=(const QuietLogs&) = delete;

 private:
  spdlog::level::level_enum level_;
};

}  // namespace

Json config_schema() {
  const QuietLogs quiet;
  const std::vector<Probe> probes = {{"", 0, 0, 0}, {"b", 7, 7, 1}};
  const ProbeFiles files(probes);
  std::vector<std::vector<config::RunNotes>> notes;
  for (const auto& probe : probes)
    notes.push_back(probe.explore(files.directory));
  const Json body = config::json_schema(notes);
  Json schema = {
      {"$schema", "http://json-schema.org/draft-07/schema#"},
      {"title", "pinn-train config"},
      {"description",
       "A pinn-train config: one JSON file describing a physics-informed neural network and how "
       "to train it. Generated by `pinn-train schema` from the readers that validate configs."}};
  schema.update(body);
  return schema;
}

int schema_command() {
  std::cout << config_schema().dump(2) << std::endl;
  return kExitOk;
}

}  // namespace pinn::cli
