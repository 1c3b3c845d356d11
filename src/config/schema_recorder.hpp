// Schema recording: the mode of Reader behind `pinn-train schema`. A Document with a recorder
// makes every getter note what it asks for (the key, its kind, default, choices, bounds and
// description), so that the JSON Schema comes from the same readers that validate configs.
//
// The readers run on a probe document that lacks most keys. Where a getter needs a value the
// recorder supplies one, and where a reader's code branches on the document (has(), a "type"
// choice, the keys of a map, whether a value is an object), the recorder picks the alternative.
// explore() runs the readers again and again until every alternative of every branch was taken
// (or failed a few times): the notes of all runs together hold every key the readers accept.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "config/document.hpp"

namespace pinn::config {

// What a getter reads a value as.
enum class ValueKind {
  any,
  number,
  integer,
  boolean,
  string,
  numbers,
  integers,
  strings,
  object,
  objects
};

template <typename T>
constexpr ValueKind value_kind() {
  return ValueKind::any;  // Json: any value
}
template <>
constexpr ValueKind value_kind<double>() {
  return ValueKind::number;
}
template <>
constexpr ValueKind value_kind<int>() {
  return ValueKind::integer;
}
template <>
constexpr ValueKind value_kind<bool>() {
  return ValueKind::boolean;
}
template <>
constexpr ValueKind value_kind<std::string>() {
  return ValueKind::string;
}
template <>
constexpr ValueKind value_kind<std::vector<double>>() {
  return ValueKind::numbers;
}
template <>
constexpr ValueKind value_kind<std::vector<int>>() {
  return ValueKind::integers;
}
template <>
constexpr ValueKind value_kind<std::vector<std::string>>() {
  return ValueKind::strings;
}

// What one getter noted of one key.
struct KeyNote {
  ValueKind kind = ValueKind::any;  // any: accepted, read by someone else or not at all
  bool required = false;
  std::optional<Json> fallback;      // the default, as written back into the document
  std::vector<std::string> choices;  // the allowed strings (choice()); empty: any
  std::optional<double> minimum;
  bool exclusive_minimum = false;
};

// What one run noted of one object of the document.
struct ObjectNote {
  std::vector<std::pair<std::string, KeyNote>> keys;  // in the order they were read
  std::map<std::string, std::string> descriptions;    // by key (describe())
  std::set<std::string> asked;  // keys the reader asked has() of: optional, whatever reads them
  std::string decided_by;       // the first key asked, when it was there: it chose the variant
  std::string variant_key;      // the first key whose value chose among alternatives ("type")
  std::string variant;          // and its value in this run ("adam")
  bool finished = false;        // finish() passed: keys outside `keys` are rejected here

  KeyNote& key(const std::string& name);
  const KeyNote* find(const std::string& name) const;
};

// The notes of one run of the readers, by the JSON pointer of each object.
struct RunNotes {
  std::map<std::string, ObjectNote> objects;
  bool completed = false;  // the readers accepted the probe as it came out
};

// The values the recorder hands out. Each list holds alternatives, tried in turn where the one
// first taken is refused: names of the probe's inputs, sets and domains, expressions, file paths.
struct ProbeValues {
  double number = 0.5;
  int integer = 3;
  bool boolean = false;
  std::vector<double> numbers = {0, 1};
  std::vector<int> integers = {0};
  std::vector<std::string> strings;
  std::vector<std::vector<std::string>> string_lists;
  std::vector<std::vector<std::string>> key_lists;  // keys of a map keyed by names (keys())
  std::vector<Json> values;                         // values read as any JSON
};

class SchemaRecorder {
 public:
  explicit SchemaRecorder(ProbeValues values) : values_(std::move(values)) {}

  // Runs `read` on a fresh Document of `probe` (named `source` in errors) until every
  // alternative was taken or `max_runs` ran; the notes of each run.
  std::vector<RunNotes> explore(const Json& probe, const std::string& source,
                                const std::function<void(Document&)>& read, int max_runs);

  // ---- for Reader, during a run ----
  ObjectNote& object(const Pointer& object) { return notes_.objects[object.to_string()]; }
  KeyNote& note(const Pointer& object, const std::string& key) {
    return this->object(object).key(key);
  }

  // has() of a key the document lacks: whether it is there (a placeholder value until a getter
  // says what it is).
  bool probe_presence(Json& root, const Pointer& object, const std::string& key);
  // json() of a placeholder: null, an empty object, a number, a string or a list, for code that
  // asks its kind.
  void probe_shape(Json& root, const Pointer& value);
  // keys() of an empty object: a list of names from ProbeValues::key_lists.
  void probe_keys(Json& root, const Pointer& object);
  // Whether a getter must supply the value at `value` (a placeholder, or missing and required).
  bool needs_value(const Json& root, const Pointer& value, bool required) const;
  // A value of `kind` for `value`, which stops being a placeholder.
  Json make_value(const Json& root, const Pointer& value, ValueKind kind);
  // One of `count` alternatives of a branch of the readers at `object` (`what`: "has key");
  // `initial` is taken until another succeeded. A failure of the run inside `scope` (or at
  // `object` itself) counts against the alternative taken.
  int choose(const Json& root, const Pointer& object, const Pointer& scope, const std::string& what,
             int count, int initial = 0);
  void settle(const Pointer& value) { placeholders_.erase(value.to_string()); }

 private:
  struct Choice {
    std::string id;      // the branch: its object's pattern and what was chosen there
    std::string object;  // the JSON pointers of the object
    std::string scope;   // and of what was chosen
    int count = 0;
    int taken = 0;
  };

  // `pointer` with list indices and the names keys() made up replaced by "*": one branch of
  // the readers, whichever list element or map entry reached it.
  std::string pattern(const Json& root, const Pointer& pointer) const;
  void begin_run(std::vector<int> script);
  void learn(const std::optional<std::string>& failure, std::vector<std::vector<int>>& queue);
  bool blames(const std::optional<std::string>& failure, size_t k) const;
  void succeed(const Choice& choice, std::vector<std::vector<int>>& queue);
  void queue_alternatives(const Choice& choice, bool free, bool blamed,
                          const std::vector<int>& before, std::vector<std::vector<int>>& queue);
  // Queues the choices `before` then `alternative`, unless a run took them already.
  bool schedule(const std::vector<int>& before, int alternative,
                std::vector<std::vector<int>>& queue);

  ProbeValues values_;
  // Across runs.
  std::map<std::string, int> preferred_;  // branch -> the alternative that last succeeded
  std::set<std::pair<std::string, int>> succeeded_;
  std::map<std::pair<std::string, int>, int> attempts_;
  std::set<std::vector<int>> scheduled_;                         // choice sequences run or queued
  std::map<std::string, std::vector<std::vector<int>>> failed_;  // branch -> choices before it
  // Per run.
  std::vector<int> script_;  // the alternatives forced on the run's first choices
  std::vector<Choice> choices_;
  RunNotes notes_;
  std::set<std::string> placeholders_, absent_, shaped_, expanded_, made_up_;
  std::map<std::string, std::string> contexts_;  // object -> its first decisions
};

}  // namespace pinn::config
