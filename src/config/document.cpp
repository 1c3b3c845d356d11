// Loading the config, applying overrides and naming where a value came from.
#include "config/document.hpp"

#include <algorithm>
#include <cctype>

#include "util/errors.hpp"
#include "util/files.hpp"

namespace pinn::config {

namespace {

// nlohmann reports a byte offset; users want a line and a column.
std::pair<int, int> line_and_column(const std::string& text, size_t byte) {
  int line = 1, column = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

// nlohmann's message without its "[json.exception.parse_error.101] parse error at ...: " prefix.
std::string parse_error_reason(const std::string& what) {
  const auto colon = what.find(": ");
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

bool is_pointer_prefix(const std::string& prefix, const std::string& pointer) {
  return pointer.compare(0, prefix.size(), prefix) == 0 &&
         (pointer.size() == prefix.size() || pointer[prefix.size()] == '/');
}

}  // namespace

Document Document::load(const std::string& path) {
  const std::string text = read_text_file(path);
  try {
    return from_json(Json::parse(text, nullptr, true, /*ignore_comments=*/true), path);
  } catch (const Json::parse_error& error) {
    // The byte offset points one past the offending character.
    const auto [line, column] = line_and_column(text, error.byte > 0 ? error.byte - 1 : 0);
    throw InputError(path, "invalid JSON at line " + std::to_string(line) + ", column " +
                               std::to_string(column) + ": " + parse_error_reason(error.what()));
  }
}

Document Document::from_json(Json root, std::string source_name) {
  Document document;
  document.source_ = std::move(source_name);
  if (!root.is_object()) {
    throw InputError(document.source_,
                     "expected a JSON object at the top level, found " + describe_json_value(root));
  }
  document.root_ = std::move(root);
  return document;
}

Pointer parse_dotted_path(const std::string& path) {
  Pointer pointer;
  std::string token;
  auto fail = [&](const std::string& why) {
    throw InputError("--set " + path, "malformed path: " + why +
                                          " (write keys joined by '.', list elements as [N], "
                                          "e.g. training[0].lr)");
  };
  size_t i = 0;
  while (i < path.size()) {
    const char c = path[i];
    if (c == '.') {
      if (token.empty()) fail("empty key");
      pointer /= token;
      token.clear();
      ++i;
    } else if (c == '[') {
      if (!token.empty()) pointer /= token;
      token.clear();
      const auto close = path.find(']', i);
      if (close == std::string::npos) fail("missing ']'");
      const std::string index = path.substr(i + 1, close - i - 1);
      if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) {
        fail("'" + index + "' is not a list index");
      }
      pointer /= std::stoul(index);
      i = close + 1;
      if (i < path.size() && path[i] == '.') ++i;
    } else {
      token += c;
      ++i;
    }
  }
  if (!token.empty()) pointer /= token;
  if (pointer.empty()) fail("empty path");
  return pointer;
}

std::vector<std::string> pointer_tokens(Pointer pointer) {
  std::vector<std::string> tokens;
  while (!pointer.empty()) {
    tokens.push_back(pointer.back());
    pointer.pop_back();
  }
  std::reverse(tokens.begin(), tokens.end());
  return tokens;
}

void rebase_schema_reference(Json& root, const std::filesystem::path& from,
                             const std::filesystem::path& to) {
  if (!root.contains("$schema") || !root["$schema"].is_string()) return;
  const std::string reference = root["$schema"].get<std::string>();
  const std::filesystem::path path(reference);
  if (reference.empty() || reference.find("://") != std::string::npos || path.is_absolute()) return;
  const auto target = (std::filesystem::absolute(from) / path).lexically_normal();
  const auto relative = target.lexically_relative(std::filesystem::absolute(to).lexically_normal());
  root["$schema"] = relative.empty() ? target.string() : relative.string();
}

std::string expand_template(const std::string& text, const Json& root, const std::string& where) {
  std::string result;
  size_t i = 0;
  while (i < text.size()) {
    const auto open = text.find('{', i);
    if (open == std::string::npos) break;
    const auto close = text.find('}', open);
    if (close == std::string::npos) {
      throw InputError(where, "'" + text + "' has a '{' without its '}'");
    }
    result += text.substr(i, open - i);
    const std::string key = text.substr(open + 1, close - open - 1);
    Pointer pointer;
    try {
      pointer = parse_dotted_path(key);
    } catch (const InputError&) {
      throw InputError(where, "'{" + key + "}' in '" + text + "' is not a config path");
    }
    if (!root.contains(pointer)) {
      throw InputError(where, "'{" + key + "}' in '" + text + "' names no value of the config");
    }
    const Json& value = root.at(pointer);
    std::string piece = value.is_string() ? value.get<std::string>() : value.dump();
    for (char& c : piece) {
      if (c == '/' || c == ' ') c = '_';
    }
    result += piece;
    i = close + 1;
  }
  return result + text.substr(std::min(i, text.size()));
}

void Document::apply_override(const std::string& assignment) {
  const auto equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw InputError("--set " + assignment, "expected KEY=VALUE, e.g. training[0].lr=1e-4");
  }
  const std::string path = assignment.substr(0, equals);
  const std::string text = assignment.substr(equals + 1);
  const Pointer pointer = parse_dotted_path(path);

  Json value;
  try {
    value = Json::parse(text);
  } catch (const Json::parse_error&) {
    value = text;  // a bare word such as tanh or a file name
  }

  // Only the last step may create something: the parent must exist, so that a typo in a
  // parent key is reported rather than silently creating a new branch.
  const Pointer parent = pointer.parent_pointer();
  if (!root_.contains(parent)) {
    throw InputError("--set " + assignment,
                     "the path '" + parent.to_string() + "' does not exist in " + source_);
  }
  Json& container = root_.at(parent);
  const std::string last = pointer.back();
  if (container.is_array()) {
    const bool numeric = !last.empty() && last.find_first_not_of("0123456789") == std::string::npos;
    if (!numeric || std::stoul(last) > container.size()) {
      throw InputError("--set " + assignment, "index " + last + " is outside the list at '" +
                                                  parent.to_string() + "' (it has " +
                                                  std::to_string(container.size()) + " elements)");
    }
  } else if (!container.is_object()) {
    throw InputError("--set " + assignment, "'" + parent.to_string() + "' is " +
                                                describe_json_value(container) +
                                                ", which has no key '" + last + "'");
  }
  set(pointer, std::move(value), "--set " + assignment);
}

void Document::set(const Pointer& pointer, Json value, const std::string& origin) {
  root_[pointer] = std::move(value);
  overrides_[pointer.to_string()] = origin;
}

std::string Document::where(const Pointer& pointer) const {
  const std::string text = pointer.to_string();
  for (const auto& [overridden, origin] : overrides_) {
    if (is_pointer_prefix(overridden, text)) return origin + ": " + (text.empty() ? "/" : text);
  }
  return source_ + ": " + (text.empty() ? "/" : text);
}

std::string describe_json_value(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case Json::value_t::string: {
      std::string text = value.get<std::string>();
      if (text.size() > 40) text = text.substr(0, 37) + "...";
      return "a string (\"" + text + "\")";
    }
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "a number (" + value.dump() + ")";
    case Json::value_t::array:
      return "a list of " + std::to_string(value.size());
    case Json::value_t::object:
      return "an object";
    default:
      return "an unsupported value";
  }
}

}  // namespace pinn::config
