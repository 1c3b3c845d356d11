// Reader: validated, typed access to one JSON object of the config. Every getter names the file
// and JSON path in its error ("expected a positive integer, found a string"); defaults are
// written back into the document (so the saved config is the resolved one); finish() rejects
// keys nobody asked for, with a "did you mean" for near misses. With a SchemaRecorder on the
// document (config/schema_recorder.hpp), every getter also notes what it reads, for the JSON
// Schema of `pinn-train schema`.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/document.hpp"
#include "config/schema_recorder.hpp"

namespace pinn::config {

class Reader {
 public:
  // A reader of the object at `pointer`; InputError when that value is not an object.
  Reader(Document& document, Pointer pointer);

  // Whether the key is there. Schema recording: where it is not, a branch the recorder explores.
  bool has(const std::string& key) const;
  const Json& json(const std::string& key) const;  // the raw value; the key must exist
  const Pointer& pointer() const { return pointer_; }
  Document& document() const { return *document_; }

  // Marks a key as known without reading it (read by someone else).
  void accept(const std::string& key);
  // What `key` means, for the JSON Schema (schema recording only; nothing otherwise).
  void describe(const std::string& key, const std::string& text) const;

  template <typename T>
  T get(const std::string& key);  // required
  template <typename T>
  T get_or(const std::string& key, const T& fallback);  // optional; the default is recorded
  template <typename T>
  std::optional<T> get_optional(const std::string& key);  // optional, no default

  double positive(const std::string& key, double fallback);
  double non_negative(const std::string& key, double fallback);
  int positive_int(const std::string& key);
  int positive_int(const std::string& key, int fallback);
  // An integer >= 0; `what` names it in the error ("a number of steps >= 0 (0: ...)").
  int non_negative_int(const std::string& key, int fallback, const std::string& what);
  // One of `choices`; an error lists them and suggests the closest.
  std::string choice(const std::string& key, const std::vector<std::string>& choices);
  std::string choice(const std::string& key, const std::vector<std::string>& choices,
                     const std::string& fallback);

  Reader object(const std::string& key);                // required sub-object
  std::vector<Reader> objects(const std::string& key);  // required list of objects
  std::vector<std::string> keys() const;                // keys of this object, in order

  // Rejects keys that no getter asked for.
  void finish() const;

  std::string where() const;
  std::string where(const std::string& key) const;
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;
  [[noreturn]] void fail_here(const std::string& message) const;

 private:
  Json& node() const;
  bool present(const std::string& key) const { return node().contains(key); }
  std::vector<std::string> present_keys() const;
  [[noreturn]] void fail_missing(const std::string& key, const std::string& what) const;
  std::string checked_choice(const std::string& key, const std::vector<std::string>& choices);
  SchemaRecorder* recorder() const { return document_->recorder(); }
  // Schema recording: notes `key` as read as `kind` (required, or with `fallback` as default)
  // and puts a probe value there when the document has none that the reader could use.
  void probe(const std::string& key, ValueKind kind, bool required, const Json* fallback) const;
  void probe_minimum(const std::string& key, double minimum, bool exclusive) const;
  void probe_choice(const std::string& key, const std::vector<std::string>& choices,
                    const std::string* fallback);
  Document* document_;
  Pointer pointer_;
  std::set<std::string> known_;
};

// Conversions from JSON with "expected ..., found ..." errors; `where` prefixes the message.
template <typename T>
T convert(const Json& value, const std::string& where);
template <>
Json convert<Json>(const Json& value, const std::string& where);  // any JSON value, as is
template <>
double convert<double>(const Json& value, const std::string& where);
template <>
int convert<int>(const Json& value, const std::string& where);
template <>
bool convert<bool>(const Json& value, const std::string& where);
template <>
std::string convert<std::string>(const Json& value, const std::string& where);
template <>
std::vector<double> convert<std::vector<double>>(const Json& value, const std::string& where);
template <>
std::vector<int> convert<std::vector<int>>(const Json& value, const std::string& where);
template <>
std::vector<std::string> convert<std::vector<std::string>>(const Json& value,
                                                           const std::string& where);

template <typename T>
T Reader::get(const std::string& key) {
  known_.insert(key);
  if (recorder()) probe(key, value_kind<T>(), true, nullptr);
  if (!present(key)) fail_missing(key, "required key");
  return convert<T>(json(key), where(key));
}

template <typename T>
T Reader::get_or(const std::string& key, const T& fallback) {
  known_.insert(key);
  if (recorder()) {
    const Json value(fallback);
    probe(key, value_kind<T>(), false, &value);
  }
  if (!present(key)) {
    node()[key] = fallback;
    return fallback;
  }
  return convert<T>(json(key), where(key));
}

template <typename T>
std::optional<T> Reader::get_optional(const std::string& key) {
  known_.insert(key);
  if (recorder()) probe(key, value_kind<T>(), false, nullptr);
  if (!present(key)) return std::nullopt;
  return convert<T>(json(key), where(key));
}

}  // namespace pinn::config
