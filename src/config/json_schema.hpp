// The JSON Schema (draft-07) of a config, from what schema recording noted (schema_recorder.hpp):
// one object schema per object the readers read, with its keys' types, defaults, choices, lower
// bounds and descriptions; `additionalProperties: false` where the reader rejects other keys;
// one `anyOf` branch per variant where a choice ("type", "sampler") decides the other keys.
#pragma once

#include <vector>

#include "config/document.hpp"
#include "config/schema_recorder.hpp"

namespace pinn::config {

// `probes` holds the runs of each probe document. The probes name their inputs, sets, domains
// ... differently and differ in a few values: a key that only one probe's runs read at a place
// is such a name (an entry of a map: "additionalProperties"), and a default or set of choices
// that differs between them comes from the probe (the default name of a loss term, the outputs),
// not from the readers, and is left out.
Json json_schema(const std::vector<std::vector<RunNotes>>& probes);

}  // namespace pinn::config
