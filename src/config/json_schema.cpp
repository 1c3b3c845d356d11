// From the notes of many runs to one schema: the notes are gathered into a tree of objects (list
// elements share their list's node), map entries are folded into one, objects of one family met
// at several places become one definition, and each object's notes are merged per variant.
#include "config/json_schema.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>

namespace pinn::config {

namespace {

const std::string kEntry = "*";  // the node of a map's entries, whatever their names

struct Seen {
  size_t probe;
  const ObjectNote* note;
  bool completed;  // the run read the whole probe
};

struct Node {
  std::vector<Seen> seen;
  std::map<std::string, Node> children;  // the objects under a key (of a list: its elements)
  std::set<std::string> entries;         // keys that are names of a map's entries
  std::string definition;                // its schema is this one of "definitions"
};

// ---- gathering --------------------------------------------------------------------------------

void insert(Node& root, size_t probe, const RunNotes& run) {
  for (const auto& [text, note] : run.objects) {
    Node* node = &root;
    Pointer at;
    const auto tokens = pointer_tokens(Pointer(text));
    for (size_t i = 0; i < tokens.size(); ++i) {
      const auto parent = run.objects.find(at.to_string());
      const KeyNote* key = parent == run.objects.end() ? nullptr : parent->second.find(tokens[i]);
      node = &node->children[tokens[i]];
      at /= tokens[i];
      // The elements of a list of objects share one node: skip the index.
      if (key && key->kind == ValueKind::objects && i + 1 < tokens.size()) at /= tokens[++i];
    }
    node->seen.push_back({probe, &note, run.completed});
  }
}

void merge(Node& into, const Node& from) {
  into.seen.insert(into.seen.end(), from.seen.begin(), from.seen.end());
  into.entries.insert(from.entries.begin(), from.entries.end());
  for (const auto& [key, child] : from.children)
    merge(into.children[key], child);
}

// Keys that some probes read here and others did not are names the probe chose (its domains,
// sets, inputs): entries of a map, merged into one node.
void fold(Node& node) {
  std::set<size_t> probes;
  std::map<std::string, std::set<size_t>> read_by;
  for (const auto& seen : node.seen) {
    probes.insert(seen.probe);
    for (const auto& entry : seen.note->keys)
      read_by[entry.first].insert(seen.probe);
  }
  if (probes.size() > 1) {
    for (const auto& [key, readers] : read_by) {
      if (readers.size() < probes.size()) node.entries.insert(key);
    }
  }
  for (const auto& key : node.entries) {
    const auto found = node.children.find(key);
    if (found == node.children.end()) continue;
    const Node child = std::move(found->second);
    node.children.erase(found);
    merge(node.children[kEntry], child);
  }
  for (auto& entry : node.children)
    fold(entry.second);
}

// ---- merging the notes of a key ---------------------------------------------------------------

struct KeySchema {
  std::vector<ValueKind> kinds;  // any left out
  std::optional<Json> fallback;
  std::vector<std::string> choices;
  std::optional<double> minimum;
  bool exclusive_minimum = false;
  std::string description;
};

// What every note agrees on: a default, choices or a bound that differ between notes (between
// probes, or between readers of the same key) are left out. Choices are compared among the notes
// that read a string, bounds among those that read a number: a key that is a number >= 0 or one
// of some words keeps both.
KeySchema merge_notes(const std::vector<const KeyNote*>& notes) {
  KeySchema merged;
  bool first_string = true, first_number = true, fallback_differs = false;
  for (const KeyNote* note : notes) {
    if (note->kind == ValueKind::any) continue;
    if (std::find(merged.kinds.begin(), merged.kinds.end(), note->kind) == merged.kinds.end())
      merged.kinds.push_back(note->kind);
    if (note->fallback && !fallback_differs) {
      if (merged.fallback && *merged.fallback != *note->fallback) {
        fallback_differs = true;
        merged.fallback.reset();
      } else {
        merged.fallback = note->fallback;
      }
    }
    if (note->kind == ValueKind::string) {
      if (first_string) {
        merged.choices = note->choices;
        first_string = false;
      } else if (merged.choices != note->choices) {
        merged.choices.clear();
      }
    } else if (note->kind == ValueKind::number || note->kind == ValueKind::integer) {
      if (first_number) {
        merged.minimum = note->minimum;
        merged.exclusive_minimum = note->exclusive_minimum;
        first_number = false;
      } else if (merged.minimum != note->minimum ||
                 merged.exclusive_minimum != note->exclusive_minimum) {
        merged.minimum.reset();
      }
    }
  }
  return merged;
}

Json object_schema(const Node& node);

Json kind_schema(ValueKind kind, const KeySchema& key, const Node* child) {
  const auto bounded = [&](Json schema) {
    if (key.minimum) schema[key.exclusive_minimum ? "exclusiveMinimum" : "minimum"] = *key.minimum;
    return schema;
  };
  const auto list_of = [](const std::string& type) {
    return Json{{"type", "array"}, {"items", {{"type", type}}}};
  };
  switch (kind) {
    case ValueKind::number:
      return bounded({{"type", "number"}});
    case ValueKind::integer:
      return bounded({{"type", "integer"}});
    case ValueKind::boolean:
      return {{"type", "boolean"}};
    case ValueKind::string: {
      Json schema = {{"type", "string"}};
      if (!key.choices.empty()) schema["enum"] = key.choices;
      return schema;
    }
    case ValueKind::numbers:
      return list_of("number");
    case ValueKind::integers:
      return list_of("integer");
    case ValueKind::strings:
      return list_of("string");
    case ValueKind::object:
      return child ? object_schema(*child) : Json{{"type", "object"}};
    case ValueKind::objects:
      return {{"type", "array"},
              {"items", child ? object_schema(*child) : Json{{"type", "object"}}}};
    case ValueKind::any:
      break;
  }
  return Json::object();
}

Json key_schema(const KeySchema& key, const Node* child) {
  std::vector<ValueKind> kinds = key.kinds;
  // An integer is a number: where both are read, any number is.
  if (std::count(kinds.begin(), kinds.end(), ValueKind::number)) {
    kinds.erase(std::remove(kinds.begin(), kinds.end(), ValueKind::integer), kinds.end());
  }
  Json type = Json::object();
  if (kinds.size() == 1) {
    type = kind_schema(kinds.front(), key, child);
  } else if (!kinds.empty()) {
    type["anyOf"] = Json::array();
    for (const auto kind : kinds)
      type["anyOf"].push_back(kind_schema(kind, key, child));
  }
  Json result = Json::object();
  if (!key.description.empty()) result["description"] = key.description;
  // Beside "$ref", draft-07 ignores other keywords: an annotated reference goes into an allOf.
  if (type.contains("$ref") && (!key.description.empty() || key.fallback)) {
    type = {{"allOf", Json::array({type})}};
  }
  result.update(type);
  if (key.fallback) result["default"] = *key.fallback;
  return result;
}

// ---- objects ----------------------------------------------------------------------------------

std::string description_of(const std::vector<Seen>& notes, const std::string& key) {
  for (const auto& seen : notes) {
    const auto found = seen.note->descriptions.find(key);
    if (found != seen.note->descriptions.end()) return found->second;
  }
  return "";
}

// The notes that tell which keys are required: those of runs that read the whole probe, else
// of runs whose reader finished the object, else all (a run that failed early never came to
// some keys).
std::vector<const ObjectNote*> required_basis(const std::vector<Seen>& notes) {
  for (const auto keep :
       {+[](const Seen& seen) { return seen.completed; },
        +[](const Seen& seen) { return seen.note->finished; }, +[](const Seen&) { return true; }}) {
    std::vector<const ObjectNote*> basis;
    for (const auto& seen : notes) {
      if (keep(seen)) basis.push_back(seen.note);
    }
    if (!basis.empty()) return basis;
  }
  return {};
}

// The notes of one variant's keys, in the order first read; those of a map's entries apart.
struct VariantKeys {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const KeyNote*>> notes;
  std::vector<const KeyNote*> entries;
};

VariantKeys keys_of(const Node& node, const std::vector<Seen>& notes) {
  VariantKeys keys;
  for (const auto& seen : notes) {
    for (const auto& [key, key_note] : seen.note->keys) {
      if (node.entries.count(key)) {
        keys.entries.push_back(&key_note);
        continue;
      }
      if (!keys.notes.count(key)) keys.order.push_back(key);
      keys.notes[key].push_back(&key_note);
    }
  }
  return keys;
}

// Asked of with has(), a key is optional, unless its presence made the variant (a point set's
// "domain"): that key, where all of `basis` agree on it.
std::string deciding_key(const std::vector<const ObjectNote*>& basis) {
  std::string key = basis.front()->decided_by;
  for (const ObjectNote* note : basis) {
    if (note->decided_by != key || !note->variant_key.empty()) return "";
  }
  return key;
}

bool is_required(const std::string& key, const std::vector<const ObjectNote*>& basis,
                 const std::string& deciding) {
  return std::all_of(basis.begin(), basis.end(), [&](const ObjectNote* note) {
    const KeyNote* found = note->find(key);
    return found && found->required && (key == deciding || !note->asked.count(key));
  });
}

const Node* child_of(const Node& node, const std::string& key) {
  const auto found = node.children.find(key);
  return found == node.children.end() ? nullptr : &found->second;
}

// One variant of an object: its keys, which of them are required, and what else it accepts.
Json variant_schema(const Node& node, const std::vector<Seen>& notes) {
  const VariantKeys keys = keys_of(node, notes);
  const auto basis = required_basis(notes);
  const std::string deciding = deciding_key(basis);
  Json properties = Json::object();
  Json required = Json::array();
  for (const auto& key : keys.order) {
    KeySchema merged = merge_notes(keys.notes.at(key));
    merged.description = description_of(notes, key);
    properties[key] = key_schema(merged, child_of(node, key));
    if (is_required(key, basis, deciding)) required.push_back(key);
  }
  const ObjectNote& first = *notes.front().note;
  if (!first.variant_key.empty()) {
    Json variant = Json::object();
    const std::string description = description_of(notes, first.variant_key);
    if (!description.empty()) variant["description"] = description;
    variant["const"] = first.variant;
    properties[first.variant_key] = variant;
  }
  Json schema = {{"type", "object"}, {"properties", properties}};
  if (!required.empty()) schema["required"] = required;
  const bool finished =
      std::any_of(notes.begin(), notes.end(), [](const Seen& seen) { return seen.note->finished; });
  if (!keys.entries.empty()) {
    schema["additionalProperties"] = key_schema(merge_notes(keys.entries), child_of(node, kEntry));
  } else if (finished) {
    schema["additionalProperties"] = false;
  }
  return schema;
}

// The object's variants, by the value of the choice that decided them. Notes without a variant
// where others have one stopped before their choice: they count only when the reader finished.
Json object_schema(const Node& node) {
  if (!node.definition.empty()) return {{"$ref", "#/definitions/" + node.definition}};
  std::map<std::string, std::vector<Seen>> variants;
  for (const auto& seen : node.seen)
    variants[seen.note->variant_key + "=" + seen.note->variant].push_back(seen);
  if (variants.size() > 1) {
    auto& plain = variants["="];
    plain.erase(std::remove_if(plain.begin(), plain.end(),
                               [](const Seen& seen) { return !seen.note->finished; }),
                plain.end());
    if (plain.empty()) variants.erase("=");
  }
  if (variants.empty()) return {{"type", "object"}};
  if (variants.size() == 1) return variant_schema(node, variants.begin()->second);
  Json branches = Json::array();
  for (const auto& entry : variants)
    branches.push_back(variant_schema(node, entry.second));
  return {{"type", "object"}, {"anyOf", branches}};
}

// "sampler=file,grid,..." for an object whose variants a choice decides; "" otherwise.
std::string family_of(const Node& node) {
  std::string key;
  std::set<std::string> variants;
  for (const auto& seen : node.seen) {
    if (seen.note->variant_key.empty()) continue;
    key = seen.note->variant_key;
    variants.insert(seen.note->variant);
  }
  if (variants.size() < 2) return "";
  std::string family = key + "=";
  for (const auto& variant : variants)
    family += variant + ",";
  return family;
}

// Every object of a family, with the name of the key it is first met under ("points").
void gather_families(Node& node, const std::string& name,
                     std::map<std::string, std::vector<std::pair<std::string, Node*>>>& families) {
  for (auto& [key, child] : node.children) {
    const std::string child_name = key == kEntry ? name : key;
    const std::string family = family_of(child);
    if (!family.empty()) families[family].emplace_back(child_name, &child);
    gather_families(child, child_name, families);
  }
}

// Objects with the same variants of the same key, met at several places, are read by one reader
// (a point set under "points", as a reference's and an evaluation's "points"): one definition,
// from the notes of every place, which each place refers to.
Json share_families(Node& root) {
  std::map<std::string, std::vector<std::pair<std::string, Node*>>> families;
  gather_families(root, "", families);
  Json definitions = Json::object();
  for (const auto& [family, places] : families) {
    if (places.size() < 2) continue;
    Node all;
    for (const auto& place : places)
      merge(all, *place.second);
    const std::string& name = places.front().first;
    definitions[name] = object_schema(all);
    for (const auto& place : places)
      place.second->definition = name;
  }
  return definitions;
}

}  // namespace

Json json_schema(const std::vector<std::vector<RunNotes>>& probes) {
  Node root;
  for (size_t probe = 0; probe < probes.size(); ++probe) {
    for (const auto& run : probes[probe])
      insert(root, probe, run);
  }
  fold(root);
  const Json definitions = share_families(root);
  Json schema = object_schema(root);
  if (!definitions.empty()) schema["definitions"] = definitions;
  return schema;
}

}  // namespace pinn::config
