// Typed getters, conversions and the unknown-key check.
#include "config/reader.hpp"

#include <algorithm>
#include <cmath>

#include "util/errors.hpp"
#include "util/suggest.hpp"

namespace pinn::config {

namespace {

[[noreturn]] void expected(const std::string& where, const std::string& what, const Json& found) {
  throw InputError(where, "expected " + what + ", found " + describe_json_value(found));
}

}  // namespace

template <>
Json convert<Json>(const Json& value, const std::string&) {
  return value;
}

template <>
double convert<double>(const Json& value, const std::string& where) {
  if (!value.is_number()) expected(where, "a number", value);
  return value.get<double>();
}

template <>
int convert<int>(const Json& value, const std::string& where) {
  if (!value.is_number()) expected(where, "an integer", value);
  const double number = value.get<double>();
  // 1e4 is a JSON float but a fine iteration count; 2.5 is not.
  if (std::floor(number) != number) expected(where, "an integer", value);
  if (std::abs(number) > 2e9) expected(where, "an integer of at most 2e9 in magnitude", value);
  return static_cast<int>(number);
}

template <>
bool convert<bool>(const Json& value, const std::string& where) {
  if (!value.is_boolean()) expected(where, "true or false", value);
  return value.get<bool>();
}

template <>
std::string convert<std::string>(const Json& value, const std::string& where) {
  if (!value.is_string()) expected(where, "a string", value);
  return value.get<std::string>();
}

template <>
std::vector<double> convert<std::vector<double>>(const Json& value, const std::string& where) {
  if (!value.is_array()) expected(where, "a list of numbers", value);
  std::vector<double> numbers;
  for (size_t i = 0; i < value.size(); ++i) {
    numbers.push_back(convert<double>(value[i], where + "/" + std::to_string(i)));
  }
  return numbers;
}

template <>
std::vector<int> convert<std::vector<int>>(const Json& value, const std::string& where) {
  if (!value.is_array()) expected(where, "a list of integers", value);
  std::vector<int> numbers;
  for (size_t i = 0; i < value.size(); ++i) {
    numbers.push_back(convert<int>(value[i], where + "/" + std::to_string(i)));
  }
  return numbers;
}

template <>
std::vector<std::string> convert<std::vector<std::string>>(const Json& value,
                                                           const std::string& where) {
  if (!value.is_array()) expected(where, "a list of strings", value);
  std::vector<std::string> strings;
  for (size_t i = 0; i < value.size(); ++i) {
    strings.push_back(convert<std::string>(value[i], where + "/" + std::to_string(i)));
  }
  return strings;
}

Reader::Reader(Document& document, Pointer pointer)
    : document_(&document), pointer_(std::move(pointer)) {
  if (!document_->root().contains(pointer_)) fail_here("required object is missing");
  if (!node().is_object()) expected(where(), "an object", node());
}

Json& Reader::node() const {
  return document_->root().at(pointer_);
}

bool Reader::has(const std::string& key) const {
  if (!recorder()) return present(key);
  // Asked before it is read, a key is optional (asked after, as a loss term's "residual" is,
  // the getter said whether it is required).
  ObjectNote& object = recorder()->object(pointer_);
  const KeyNote* read = object.find(key);
  const bool unread = !read || read->kind == ValueKind::any;
  const bool first = unread && object.asked.empty();
  if (unread) object.asked.insert(key);
  const bool there = present(key) || recorder()->probe_presence(document_->root(), pointer_, key);
  if (first && there) object.decided_by = key;
  return there;
}

const Json& Reader::json(const std::string& key) const {
  if (recorder()) recorder()->probe_shape(document_->root(), pointer_ / key);
  return node().at(key);
}

void Reader::accept(const std::string& key) {
  known_.insert(key);
  if (recorder()) recorder()->note(pointer_, key);
}

void Reader::describe(const std::string& key, const std::string& text) const {
  if (recorder()) recorder()->object(pointer_).descriptions[key] = text;
}

void Reader::probe(const std::string& key, ValueKind kind, bool required,
                   const Json* fallback) const {
  KeyNote& note = recorder()->note(pointer_, key);
  if (note.kind == ValueKind::any) note.kind = kind;
  note.required = note.required || required;
  if (fallback) note.fallback = *fallback;
  const Pointer value = pointer_ / key;
  if (recorder()->needs_value(document_->root(), value, required)) {
    Json made = recorder()->make_value(document_->root(), value, kind);
    node()[key] = std::move(made);
  }
}

void Reader::probe_minimum(const std::string& key, double minimum, bool exclusive) const {
  if (!recorder()) return;
  KeyNote& note = recorder()->note(pointer_, key);
  note.minimum = minimum;
  note.exclusive_minimum = exclusive;
}

// A required choice, or a "type" with a default, is a branch of the readers: each alternative is
// explored, and the first one read in an object names its variant ("type": "adam").
void Reader::probe_choice(const std::string& key, const std::vector<std::string>& choices,
                          const std::string* fallback) {
  if (!recorder()) return;
  SchemaRecorder& recorder = *this->recorder();
  KeyNote& note = recorder.note(pointer_, key);
  note.kind = ValueKind::string;
  note.choices = choices;
  note.required = note.required || !fallback;
  if (fallback) note.fallback = *fallback;
  const bool branch = !fallback || key == "type";
  const Pointer value = pointer_ / key;
  if (!choices.empty() && recorder.needs_value(document_->root(), value, branch)) {
    const auto initial =
        fallback ? std::find(choices.begin(), choices.end(), *fallback) - choices.begin() : 0;
    const int index = recorder.choose(document_->root(), pointer_, value, "choice " + key,
                                      static_cast<int>(choices.size()), static_cast<int>(initial));
    node()[key] = choices[static_cast<size_t>(index)];
    recorder.settle(value);
  }
  ObjectNote& object = recorder.object(pointer_);
  if (branch && object.variant_key.empty() && present(key) && node()[key].is_string()) {
    object.variant_key = key;
    object.variant = node()[key].get<std::string>();
  }
}

std::vector<std::string> Reader::keys() const {
  if (recorder()) recorder()->probe_keys(document_->root(), pointer_);
  return present_keys();
}

std::vector<std::string> Reader::present_keys() const {
  std::vector<std::string> result;
  for (const auto& item : node().items())
    result.push_back(item.key());
  return result;
}

double Reader::positive(const std::string& key, double fallback) {
  const double value = get_or(key, fallback);
  probe_minimum(key, 0, true);
  if (!(value > 0)) fail(key, "expected a positive number, found " + json(key).dump());
  return value;
}

double Reader::non_negative(const std::string& key, double fallback) {
  const double value = get_or(key, fallback);
  probe_minimum(key, 0, false);
  if (!(value >= 0)) fail(key, "expected a number >= 0, found " + json(key).dump());
  return value;
}

int Reader::positive_int(const std::string& key) {
  const int value = get<int>(key);
  probe_minimum(key, 1, false);
  if (value <= 0) fail(key, "expected a positive integer, found " + json(key).dump());
  return value;
}

int Reader::positive_int(const std::string& key, int fallback) {
  const int value = get_or(key, fallback);
  probe_minimum(key, 1, false);
  if (value <= 0) fail(key, "expected a positive integer, found " + json(key).dump());
  return value;
}

int Reader::non_negative_int(const std::string& key, int fallback, const std::string& what) {
  const int value = get_or(key, fallback);
  probe_minimum(key, 0, false);
  if (value < 0) fail(key, "expected " + what + ", found " + json(key).dump());
  return value;
}

std::string Reader::choice(const std::string& key, const std::vector<std::string>& choices) {
  probe_choice(key, choices, nullptr);
  return checked_choice(key, choices);
}

std::string Reader::checked_choice(const std::string& key,
                                   const std::vector<std::string>& choices) {
  known_.insert(key);
  if (!present(key)) fail_missing(key, "required key");
  const std::string value = convert<std::string>(json(key), where(key));
  if (std::find(choices.begin(), choices.end(), value) == choices.end()) {
    fail(key, "expected one of " + quoted_list(choices) + ", found '" + value + "'" +
                  did_you_mean(value, choices));
  }
  return value;
}

std::string Reader::choice(const std::string& key, const std::vector<std::string>& choices,
                           const std::string& fallback) {
  probe_choice(key, choices, &fallback);
  if (!present(key)) {
    known_.insert(key);
    node()[key] = fallback;
    return fallback;
  }
  return checked_choice(key, choices);
}

Reader Reader::object(const std::string& key) {
  known_.insert(key);
  if (recorder()) probe(key, ValueKind::object, true, nullptr);
  if (!present(key)) fail_missing(key, "required object");
  return Reader(*document_, pointer_ / key);
}

std::vector<Reader> Reader::objects(const std::string& key) {
  known_.insert(key);
  if (recorder()) probe(key, ValueKind::objects, true, nullptr);
  if (!present(key)) fail_missing(key, "required list");
  if (!json(key).is_array()) expected(where(key), "a list of objects", json(key));
  // Loss terms, stages, evaluations: thousands would be a generated mistake, and each costs work
  // at every step or every check.
  constexpr size_t kMaxEntries = 1000;
  if (json(key).size() > kMaxEntries) {
    fail(key, "expected at most " + std::to_string(kMaxEntries) + " entries, found " +
                  std::to_string(json(key).size()));
  }
  std::vector<Reader> readers;
  for (size_t i = 0; i < json(key).size(); ++i)
    readers.emplace_back(*document_, pointer_ / key / i);
  return readers;
}

void Reader::fail_missing(const std::string& key, const std::string& what) const {
  // A key present that nobody read but that nearly spells one read ("tpye") is the likelier
  // cause: its absence may be what made this key required (a term without "type" needs a
  // "residual").
  const std::vector<std::string> read(known_.begin(), known_.end());
  for (const auto& present : present_keys()) {
    if (known_.count(present) != 0) continue;
    const std::string meant = closest_match(present, read);
    if (!meant.empty() && meant != key) {
      throw InputError(where(present), "unknown key '" + present + "' (did you mean '" + meant +
                                           "'?); without it, " + what + " '" + key +
                                           "' is missing");
    }
  }
  // A near miss among the keys present is most likely a typo of the missing one.
  const std::string typo = closest_match(key, present_keys());
  fail(key, what + " '" + key + "' is missing" +
                (typo.empty() ? "" : " (found '" + typo + "': a typo?)"));
}

void Reader::finish() const {
  const std::vector<std::string> allowed(known_.begin(), known_.end());
  for (const auto& item : node().items()) {
    if (known_.count(item.key())) continue;
    throw InputError(where(item.key()), "unknown key '" + item.key() + "'" +
                                            did_you_mean(item.key(), allowed) +
                                            "; allowed here: " + quoted_list(allowed, "and"));
  }
  if (recorder()) recorder()->object(pointer_).finished = true;
}

std::string Reader::where() const {
  return document_->where(pointer_);
}

std::string Reader::where(const std::string& key) const {
  return document_->where(pointer_ / key);
}

void Reader::fail(const std::string& key, const std::string& message) const {
  throw InputError(where(key), message);
}

void Reader::fail_here(const std::string& message) const {
  throw InputError(where(), message);
}

}  // namespace pinn::config
