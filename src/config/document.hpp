// The config document: the JSON file as loaded, with `--set` overrides applied, plus where each
// value came from so that an error can name the file (or the override) and the JSON path.
// Readers fill defaults into it, so after the problem is built it is the resolved config.
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace pinn::config {

using Json = nlohmann::ordered_json;
using Pointer = Json::json_pointer;

class SchemaRecorder;

class Document {
 public:
  // Parses `path` (comments allowed); InputError with line and column when the JSON is invalid.
  static Document load(const std::string& path);
  static Document from_json(Json root, std::string source_name);

  // Applies "a.b[2].c=VALUE": VALUE is parsed as JSON, else taken as a string. `origin` names it
  // in messages (default: "--set a.b[2].c=VALUE").
  void apply_override(const std::string& assignment, std::string origin = "");

  // Sets one value from the command line (e.g. --seed); `origin` names it in messages.
  void set(const Pointer& pointer, Json value, const std::string& origin);

  Json& root() { return root_; }
  const Json& root() const { return root_; }
  const std::string& source() const { return source_; }

  // "file.json: /losses/2/residual", or "--set losses[2].residual=...: /losses/2/residual"
  // when the value (or a parent of it) came from an override.
  std::string where(const Pointer& pointer) const;

  // Schema recording (config/schema_recorder.hpp): readers of this document note what they read.
  void set_recorder(SchemaRecorder* recorder) { recorder_ = recorder; }
  SchemaRecorder* recorder() const { return recorder_; }

 private:
  Json root_;
  std::string source_;
  SchemaRecorder* recorder_ = nullptr;
  std::map<std::string, std::string> overrides_;  // JSON pointer -> the --set text
};

// Parses JSON text (comments allowed); InputError naming `where` with the line and column of a
// syntax error or of a number outside the range of a double.
Json parse_json(const std::string& text, const std::string& where);

// "training[0].lr" -> "/training/0/lr"; InputError when the path is malformed.
Pointer parse_dotted_path(const std::string& path);

// The keys and list indices of `pointer`, unescaped: "/a~1b/0" -> {"a/b", "0"}.
std::vector<std::string> pointer_tokens(Pointer pointer);

// "$schema" names the config's JSON Schema relative to the config's folder `from` (editors
// resolve it so): a copy of `root` written into the folder `to` (a run's config.json, a sweep's
// configs) names the same file relative to `to`. URLs and absolute paths stay as they are.
void rebase_schema_reference(Json& root, const std::filesystem::path& from,
                             const std::filesystem::path& to);

// Replaces each "{key.path[N]}" in `text` with that value of `root` (strings as they are, numbers
// and other values as compact JSON, '/' in values replaced by '_'), e.g.
// "runs/{name}-lr{training[0].lr}"
// -> "runs/heat-lr0.001". InputError naming `where` when a path is malformed or names no value.
std::string expand_template(const std::string& text, const Json& root, const std::string& where);

// "a string (\"abc\")", "a number (1.5)", "an object", ... for "expected X, found Y" messages.
std::string describe_json_value(const Json& value);

}  // namespace pinn::config
