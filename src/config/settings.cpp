// Reading and checking the top-level run settings.
#include "config/settings.hpp"

namespace pinn::config {

RunSettings read_run_settings(Reader& top, const std::string& default_name) {
  RunSettings settings;
  settings.name = top.get_or("name", default_name);
  // The name becomes a folder (runs/<name>, sweeps/<name>): one of its own, never "." or "..".
  if (settings.name.empty() || settings.name == "." || settings.name == ".." ||
      settings.name.find_first_of(std::string("/\0", 2)) != std::string::npos) {
    top.fail("name", "expected a non-empty name without '/' that is not '.' or '..', found '" +
                         settings.name + "'");
  }
  settings.device = top.get_or("device", settings.device);
  const bool cuda_index = settings.device.rfind("cuda:", 0) == 0 && settings.device.size() > 5 &&
                          settings.device.find_first_not_of("0123456789", 5) == std::string::npos;
  if (settings.device != "cpu" && settings.device != "cuda" && settings.device != "auto" &&
      !cuda_index) {
    top.fail("device",
             "expected 'cpu', 'cuda', 'cuda:N' or 'auto', found '" + settings.device + "'");
  }
  settings.dtype = top.choice("dtype", {"float32", "float64"}, settings.dtype);
  settings.tf32 = top.get_or("tf32", settings.tf32);
  settings.seed = top.get_or("seed", settings.seed);
  // The engines are derivatives/'s to name: the composition root checks this one (cli/setup.cpp).
  settings.derivatives = top.get_or("derivatives", settings.derivatives);
  settings.fused_loss = top.get_or("fused_loss", settings.fused_loss);
  // "output": the run directory, or {"directory": ..., "plots": true}.
  if (top.has("output") && top.json("output").is_object()) {
    Reader output = top.object("output");
    settings.output = output.get_or("directory", "runs/" + settings.name);
    settings.plots = output.get_or("plots", settings.plots);
    if (settings.output.empty())
      output.fail("directory", "expected a directory name, found an empty string");
    output.finish();
  } else {
    settings.output = top.get_or("output", "runs/" + settings.name);
    if (settings.output.empty())
      top.fail("output", "expected a directory name, found an empty string");
  }
  settings.checkpoint_every =
      top.non_negative_int("checkpoint_every", settings.checkpoint_every,
                           "a number of steps >= 0 (0: only at the end of each stage)");
  settings.threads =
      top.non_negative_int("threads", settings.threads,
                           "a number of CPU threads >= 0 (0: all the CPUs this process may use)");
  return settings;
}

}  // namespace pinn::config
