// Registry: the one place a family of things named in the config (networks, activations,
// optimizers, engines, conditions, ...) is listed. Each entry is a record keyed by the config's
// "type" string; asking for an unknown name is an InputError that names where it was asked and
// suggests the closest name ("did you mean"). Code downstream keeps the record, never the string.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "util/errors.hpp"
#include "util/suggest.hpp"

namespace pinn {

template <typename Record>
class Registry {
 public:
  // `family` names the things in messages: "network type", "activation", "optimizer".
  explicit Registry(std::string family) : family_(std::move(family)) {}
  Registry(std::string family, std::initializer_list<std::pair<const std::string, Record>> entries)
      : family_(std::move(family)) {
    for (const auto& entry : entries)
      add(entry.first, entry.second);
  }

  // Registers `record` as `name`; a second record of the same name is a programming error.
  Registry& add(const std::string& name, Record record) {
    if (!records_.emplace(name, std::move(record)).second) {
      throw std::logic_error(family_ + " '" + name + "' registered twice");
    }
    return *this;
  }

  bool contains(const std::string& name) const { return records_.count(name) > 0; }
  const Record* find(const std::string& name) const {
    const auto found = records_.find(name);
    return found == records_.end() ? nullptr : &found->second;
  }

  // The record called `name`, or an InputError at `where` (file and JSON path) listing the names.
  const Record& get(const std::string& name, const std::string& where = "") const {
    if (const Record* record = find(name)) return *record;
    throw InputError(where, "unknown " + family_ + " '" + name + "'" + did_you_mean(name, names()) +
                                "; expected " + quoted_list(names()));
  }

  // Calls the record (a factory) called `name` with `arguments`.
  template <typename... Arguments>
  auto make(const std::string& name, const std::string& where, Arguments&&... arguments) const {
    return get(name, where)(std::forward<Arguments>(arguments)...);
  }

  // Every name, sorted.
  std::vector<std::string> names() const {
    std::vector<std::string> result;
    for (const auto& entry : records_)
      result.push_back(entry.first);
    return result;
  }
  const std::map<std::string, Record>& entries() const { return records_; }
  const std::string& family() const { return family_; }

 private:
  std::string family_;
  std::map<std::string, Record> records_;
};

}  // namespace pinn
