// Names in the config (inputs, outputs, constants, sets, terms, domains): identifiers.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>

namespace pinn {

// A letter, then letters, digits or '_'.
inline bool is_identifier(const std::string& name) {
  if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

}  // namespace pinn
