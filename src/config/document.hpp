// The config document: the JSON file as loaded, with `--set` overrides applied, plus where each
// value came from so that an error can name the file (or the override) and the JSON path.
// Readers fill defaults into it, so after the problem is built it is the resolved config.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace pinn::config {

using Json = nlohmann::ordered_json;
using Pointer = Json::json_pointer;

class Document {
 public:
  // Parses `path` (comments allowed); InputError with line and column when the JSON is invalid.
  static Document load(const std::string& path);
  static Document from_json(Json root, std::string source_name);

  // Applies "a.b[2].c=VALUE": VALUE is parsed as JSON, else taken as a string.
  void apply_override(const std::string& assignment);

  // Sets one value from the command line (e.g. --seed); `origin` names it in messages.
  void set(const Pointer& pointer, Json value, const std::string& origin);

  Json& root() { return root_; }
  const Json& root() const { return root_; }
  const std::string& source() const { return source_; }

  // "file.json: /losses/2/residual", or "--set losses[2].residual=...: /losses/2/residual"
  // when the value (or a parent of it) came from an override.
  std::string where(const Pointer& pointer) const;

 private:
  Json root_;
  std::string source_;
  std::map<std::string, std::string> overrides_;  // JSON pointer -> the --set text
};

// "training[0].lr" -> "/training/0/lr"; InputError when the path is malformed.
Pointer parse_dotted_path(const std::string& path);

// Replaces each "{key.path[N]}" in `text` with that value of `root` (strings as they are, numbers
// and other values as compact JSON, '/' in values replaced by '_'), e.g.
// "runs/{name}-lr{training[0].lr}"
// -> "runs/heat-lr0.001". InputError naming `where` when a path is malformed or names no value.
std::string expand_template(const std::string& text, const Json& root, const std::string& where);

// "a string (\"abc\")", "a number (1.5)", "an object", ... for "expected X, found Y" messages.
std::string describe_json_value(const Json& value);

}  // namespace pinn::config
