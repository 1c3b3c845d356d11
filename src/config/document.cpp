// Loading the config, applying overrides and naming where a value came from.
#include "config/document.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <vector>

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

// A key as a JSON pointer writes it: '~' as "~0", '/' as "~1".
std::string escaped(const std::string& key) {
  std::string text;
  for (char c : key)
    text += c == '~' ? std::string("~0") : c == '/' ? std::string("~1") : std::string(1, c);
  return text;
}

// Where a SAX parse stops, and the JSON path it had reached: nlohmann's DOM parser reports a
// number outside the range of a double (1e999) without its position, the SAX interface with it.
class FirstErrorPosition : public nlohmann::json_sax<Json> {
 public:
  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(false); }
  bool key(string_t& name) override {
    keys_.back() = name;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t end, const std::string& token,
                   const nlohmann::detail::exception&) override {
    position = end >= token.size() ? end - token.size() : 0;
    for (size_t i = 0; i < keys_.size(); ++i)
      path += "/" + (arrays_[i] ? std::to_string(counts_[i]) : escaped(keys_[i]));
    return false;
  }
  size_t position = 0;  // the byte where the offending token starts
  std::string path;     // its JSON path ("" at the top level)

 private:
  bool open(bool array) {
    arrays_.push_back(array);
    counts_.push_back(0);
    keys_.emplace_back();
    return true;
  }
  bool close() {
    arrays_.pop_back();
    counts_.pop_back();
    keys_.pop_back();
    return value();
  }
  bool value() {
    if (!counts_.empty()) ++counts_.back();
    return true;
  }
  std::vector<bool> arrays_;
  std::vector<size_t> counts_;
  std::vector<std::string> keys_;
};

// The first number of `text` outside the range of a double: its JSON path and where it starts.
FirstErrorPosition locate_number_out_of_range(const std::string& text) {
  FirstErrorPosition sax;
  Json::sax_parse(text, &sax, nlohmann::detail::input_format_t::json, true,
                  /*ignore_comments=*/true);
  return sax;
}

std::string number_at(const std::string& text, size_t position) {
  std::string number = text.substr(position, 40);
  return number.substr(0, number.find_first_not_of("0123456789+-.eE"));
}

std::string at_line_and_column(const std::string& text, size_t byte) {
  const auto [line, column] = line_and_column(text, byte);
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

// nlohmann keeps the last of two equal keys in an object: a config that says "seed" twice would
// silently train with the second. This parser callback refuses the second, naming its path.
class DuplicateKeys {
 public:
  explicit DuplicateKeys(std::string where) : where_(std::move(where)) {}

  bool operator()(int, nlohmann::detail::parse_event_t event, Json& parsed) {
    using Event = nlohmann::detail::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        frames_.push_back({event == Event::array_start, 0, {}, frames_.empty() ? "" : token(), ""});
        break;
      case Event::key: {
        Frame& frame = frames_.back();
        frame.key = parsed.get<std::string>();
        if (!frame.keys.insert(frame.key).second) {
          throw InputError(where_, path() + ": the key '" + frame.key +
                                       "' appears twice in this object (the second would "
                                       "silently replace the first)");
        }
        break;
      }
      case Event::object_end:
      case Event::array_end:
        frames_.pop_back();
        count_element();
        break;
      case Event::value:
        count_element();
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool array;
    size_t count;
    std::set<std::string> keys;
    std::string token;  // this container's key or index in its parent
    std::string key;    // an object's latest key
  };

  // The token of a value about to start in the innermost container.
  std::string token() const {
    const Frame& parent = frames_.back();
    return parent.array ? std::to_string(parent.count) : escaped(parent.key);
  }
  void count_element() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().count;
  }
  std::string path() const {
    std::string text;
    for (size_t i = 1; i < frames_.size(); ++i)
      text += "/" + frames_[i].token;
    return (text.empty() ? "/" : text + "/") + escaped(frames_.back().key);
  }

  std::string where_;
  std::vector<Frame> frames_;
};

// Configs nest a few levels (points -> a set -> bounds -> an input); a value nested deeper than
// this is a mistake, and printing or copying one recurses once per level.
constexpr size_t kMaxJsonDepth = 64;

// InputError naming `where` and the JSON path of the first value nested deeper than the limit.
// An explicit stack: the check itself must not recurse once per level.
void check_nesting(const Json& root, const std::string& where) {
  struct Entry {
    const Json* value;
    size_t depth;
    std::string path;
  };
  std::vector<Entry> stack{{&root, 1, ""}};
  while (!stack.empty()) {
    Entry entry = std::move(stack.back());
    stack.pop_back();
    if (entry.depth > kMaxJsonDepth) {
      std::string path = entry.path;
      if (path.size() > 80) path = path.substr(0, 60) + "/...";
      throw InputError(where, "a value at " + path + " is nested more than " +
                                  std::to_string(kMaxJsonDepth) + " levels deep");
    }
    if (entry.value->is_object()) {
      for (const auto& item : entry.value->items()) {
        if (item.value().is_structured()) {
          stack.push_back({&item.value(), entry.depth + 1, entry.path + "/" + escaped(item.key())});
        }
      }
    } else if (entry.value->is_array()) {
      for (size_t i = 0; i < entry.value->size(); ++i) {
        if ((*entry.value)[i].is_structured()) {
          stack.push_back(
              {&(*entry.value)[i], entry.depth + 1, entry.path + "/" + std::to_string(i)});
        }
      }
    }
  }
}

// A list index as --set and templates may write it ("007"): its value, or -1 when the token is no
// index (or one too large to be one).
int64_t list_index(const std::string& token) {
  if (token.empty() || token.size() > 9 ||
      token.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  return std::stoll(token);
}

// The value at `pointer`, or nullptr when there is none; `canonical` receives the pointer as
// nlohmann spells it (no leading zeros in indices, which its own lookup refuses with an
// exception).
const Json* find_value(const Json& root, const Pointer& pointer, Pointer* canonical = nullptr) {
  const Json* node = &root;
  Pointer spelled;
  for (const auto& token : pointer_tokens(pointer)) {
    if (node->is_object()) {
      const auto found = node->find(token);
      if (found == node->end()) return nullptr;
      node = &*found;
      spelled /= token;
    } else if (node->is_array()) {
      const int64_t index = list_index(token);
      if (index < 0 || static_cast<size_t>(index) >= node->size()) return nullptr;
      node = &(*node)[static_cast<size_t>(index)];
      spelled /= static_cast<size_t>(index);
    } else {
      return nullptr;
    }
  }
  if (canonical != nullptr) *canonical = spelled;
  return node;
}

// The same limit on the text, before it is parsed: nlohmann's parser with a callback (the
// duplicate-key check) copies values recursively, once per level. Strings and comments are
// skipped as the parser skips them.
void check_bracket_depth(const std::string& text, const std::string& where) {
  size_t depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i)
        i += text[i] == '\\';
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
      i = std::min(text.find('\n', i), text.size());
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      i = std::min(text.find("*/", i + 2), text.size()) + 1;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        throw InputError(where, "a value at " + at_line_and_column(text, i) +
                                    " is nested more than " + std::to_string(kMaxJsonDepth) +
                                    " levels deep");
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

bool is_pointer_prefix(const std::string& prefix, const std::string& pointer) {
  return pointer.compare(0, prefix.size(), prefix) == 0 &&
         (pointer.size() == prefix.size() || pointer[prefix.size()] == '/');
}

}  // namespace

Json parse_json(const std::string& text, const std::string& where) {
  try {
    check_bracket_depth(text, where);
    // check_bracket_depth has bounded the nesting already: no check_nesting of the result.
    return Json::parse(text, DuplicateKeys(where), true, /*ignore_comments=*/true);
  } catch (const Json::parse_error& error) {
    // The byte offset points one past the offending character.
    throw InputError(where, "invalid JSON at " +
                                at_line_and_column(text, error.byte > 0 ? error.byte - 1 : 0) +
                                ": " + parse_error_reason(error.what()));
  } catch (const Json::out_of_range&) {
    const auto found = locate_number_out_of_range(text);
    throw InputError(where + (found.path.empty() ? "" : ": " + found.path),
                     "the number " + number_at(text, found.position) + " at " +
                         at_line_and_column(text, found.position) +
                         " is outside the range of a double (about 1.8e308)");
  }
}

Document Document::load(const std::string& path) {
  return from_json(parse_json(read_text_file(path), path), path);
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
      if (index.size() > 9) fail("list index " + index + " is too large");
      pointer /= std::stoul(index);  // "007" -> 7: a JSON pointer's index has no leading zero
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
  // A bare file name's folder is "": the current directory.
  auto absolute = [](const std::filesystem::path& folder) {
    return std::filesystem::absolute(folder.empty() ? std::filesystem::path(".") : folder);
  };
  const auto target = (absolute(from) / path).lexically_normal();
  const auto relative = target.lexically_relative(absolute(to).lexically_normal());
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
    const Json* found = find_value(root, pointer);
    if (found == nullptr) {
      throw InputError(where, "'{" + key + "}' in '" + text + "' names no value of the config");
    }
    const Json& value = *found;
    std::string piece = value.is_string() ? value.get<std::string>() : value.dump();
    for (char& c : piece) {
      if (c == '/' || c == ' ') c = '_';
    }
    result += piece;
    i = close + 1;
  }
  return result + text.substr(std::min(i, text.size()));
}

void Document::apply_override(const std::string& assignment, std::string origin) {
  if (origin.empty()) origin = "--set " + assignment;
  const auto equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw InputError(origin, "expected KEY=VALUE, e.g. training[0].lr=1e-4");
  }
  const std::string path = assignment.substr(0, equals);
  const std::string text = assignment.substr(equals + 1);
  const Pointer pointer = parse_dotted_path(path);

  Json value;
  try {
    value = Json::parse(text);
  } catch (const Json::parse_error&) {
    value = text;  // a bare word such as tanh or a file name
  } catch (const Json::out_of_range&) {
    const auto found = locate_number_out_of_range(text);
    throw InputError(origin + ": " + (pointer.to_string() + found.path),
                     "the number " + number_at(text, found.position) +
                         " is outside the range of a double (about 1.8e308)");
  }
  check_nesting(value, origin);

  // Only the last step may create something: the parent must exist, so that a typo in a
  // parent key is reported rather than silently creating a new branch.
  Pointer parent;
  const Json* found = find_value(root_, pointer.parent_pointer(), &parent);
  if (found == nullptr) {
    throw InputError(origin, "the path '" + pointer.parent_pointer().to_string() +
                                 "' does not exist in " + source_);
  }
  const Json& container = *found;
  const std::string last = pointer.back();
  if (container.is_array()) {
    const int64_t index = list_index(last);
    if (index < 0 || static_cast<size_t>(index) > container.size()) {
      throw InputError(origin, "index " + last + " is outside the list at '" + parent.to_string() +
                                   "' (it has " + std::to_string(container.size()) + " elements)");
    }
    set(parent / static_cast<size_t>(index), std::move(value), origin);
    return;
  } else if (!container.is_object()) {
    throw InputError(origin, "'" + parent.to_string() + "' is " + describe_json_value(container) +
                                 ", which has no key '" + last + "'");
  }
  set(parent / last, std::move(value), origin);
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
  // A value that an override changed part of (a list one of whose elements was set): both.
  for (const auto& [overridden, origin] : overrides_) {
    if (!text.empty() && is_pointer_prefix(text, overridden)) {
      return source_ + " (with " + origin + "): " + text;
    }
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
