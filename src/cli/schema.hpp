// `pinn-train schema`: the JSON Schema (draft-07) of the config, recorded from the readers that
// validate configs (config/schema_recorder.hpp), so that it cannot drift from them. Editors use
// it through a config's "$schema" key (docs/schema.md).
#pragma once

#include "config/document.hpp"

namespace pinn::cli {

// The schema: read_config() explored on two probe configs (config/json_schema.hpp says why two).
config::Json config_schema();

// Prints config_schema() to stdout.
int schema_command();

}  // namespace pinn::cli
