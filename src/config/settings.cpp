// Reading and checking the top-level run settings.
#include "config/settings.hpp"

#include "util/threads.hpp"

namespace pinn::config {

namespace {

DistributedSettings read_distributed(Reader& top) {
  DistributedSettings settings;
  top.describe("distributed",
               "one run across processes: \"auto\" (when torchrun, pinn-train launch or srun "
               "start several ranks), \"off\", or {\"mode\", \"timeout_s\", \"check_every\"}");
  if (top.has("distributed") && top.json("distributed").is_object()) {
    Reader distributed = top.object("distributed");
    distributed.describe("mode", "\"auto\" (when the launcher starts several ranks) or \"off\"");
    settings.enabled = distributed.choice("mode", {"auto", "off"}, "auto") == "auto";
    distributed.describe("timeout_s",
                         "seconds to wait for the rendezvous, and for a rank in a collective, "
                         "before the run ends with an error naming the rank");
    settings.timeout_s = distributed.positive("timeout_s", settings.timeout_s);
    distributed.describe("check_every",
                         "compare a checksum of the weights across ranks every K steps and "
                         "stop on a mismatch (0: never; a debugging aid)");
    settings.check_every = distributed.non_negative_int("check_every", settings.check_every,
                                                        "a number of steps >= 0 (0: never)");
    distributed.finish();
  } else {
    settings.enabled = top.choice("distributed", {"auto", "off"}, "auto") == "auto";
  }
  return settings;
}

}  // namespace

RunSettings read_run_settings(Reader& top, const std::string& default_name,
                              const std::vector<std::string>& engine_names) {
  RunSettings settings;
  top.describe("name", "the run's name: runs/<name>, sweeps/<name> (default: the file's name)");
  settings.name = top.get_or("name", default_name);
  // The name becomes a folder (runs/<name>, sweeps/<name>): one of its own, never "." or "..".
  if (settings.name.empty() || settings.name == "." || settings.name == ".." ||
      settings.name.find_first_of(std::string("/\0", 2)) != std::string::npos) {
    top.fail("name", "expected a non-empty name without '/' that is not '.' or '..', found " +
                         describe_json_value(settings.name));
  }
  // A folder's name: file systems allow 255 bytes, and a sweep adds to it.
  constexpr size_t kMaxNameLength = 200;
  if (settings.name.size() > kMaxNameLength) {
    top.fail("name", "expected a name of at most " + std::to_string(kMaxNameLength) +
                         " characters (it names the run's folder), found one of " +
                         std::to_string(settings.name.size()));
  }
  top.describe("device", "cpu, cuda, cuda:N or auto (CUDA when available)");
  settings.device = top.get_or("device", settings.device);
  const bool cuda_index = settings.device.rfind("cuda:", 0) == 0 && settings.device.size() > 5 &&
                          settings.device.find_first_not_of("0123456789", 5) == std::string::npos;
  if (settings.device != "cpu" && settings.device != "cuda" && settings.device != "auto" &&
      !cuda_index) {
    top.fail("device",
             "expected 'cpu', 'cuda', 'cuda:N' or 'auto', found '" + settings.device + "'");
  }
  top.describe("dtype", "the floating-point type of the network and the points");
  settings.dtype = top.choice("dtype", {"float32", "float64"}, settings.dtype);
  top.describe("tf32", "on CUDA: float32 matrix products on TF32 tensor cores (faster, coarser)");
  settings.tf32 = top.get_or("tf32", settings.tf32);
  top.describe("seed", "the network's initialisation; point sets derive their seeds from it");
  settings.seed = top.get_or("seed", settings.seed);
  top.describe("derivatives", "the engine that computes the derivatives of the outputs");
  settings.derivatives = top.choice("derivatives", engine_names, settings.derivatives);
  top.describe("fused_loss", "pointwise loss terms inside the taylor engine's pass");
  settings.fused_loss = top.get_or("fused_loss", settings.fused_loss);
  // "output": the run directory, or {"directory": ..., "plots": true}.
  top.describe("output",
               "the run directory (default: runs/<name>; {key.path} takes a config value), or "
               "{\"directory\": ..., \"plots\": true, \"keep_best\": true}");
  if (top.has("output") && top.json("output").is_object()) {
    Reader output = top.object("output");
    output.describe("directory", "the run directory (default: runs/<name>)");
    output.describe("plots", "draw the run's PNGs at its end (scripts/plot_run.py)");
    settings.output = output.get_or("directory", "runs/" + settings.name);
    settings.plots = output.get_or("plots", settings.plots);
    output.describe("keep_best",
                    "also write the weights of the best log point as model_best.pt: the lowest "
                    "reference error when there is a reference (measured at every log point), "
                    "else the lowest loss");
    settings.keep_best = output.get_or("keep_best", settings.keep_best);
    if (settings.output.empty())
      output.fail("directory", "expected a directory name, found an empty string");
    output.finish();
  } else {
    settings.output = top.get_or("output", "runs/" + settings.name);
    if (settings.output.empty())
      top.fail("output", "expected a directory name, found an empty string");
  }
  top.describe("checkpoint_every", "steps between checkpoints (0: only at the end of each stage)");
  settings.checkpoint_every =
      top.non_negative_int("checkpoint_every", settings.checkpoint_every,
                           "a number of steps >= 0 (0: only at the end of each stage)");
  top.describe("threads", "CPU threads (0: OMP_NUM_THREADS, else every CPU this process may use)");
  settings.threads =
      top.non_negative_int("threads", settings.threads,
                           "a number of CPU threads >= 0 (0: all the CPUs this process may use)");
  // More busy threads than CPUs slow LibTorch's parallel loops tenfold: never what was meant.
  if (const int cpus = util::usable_cpus(); settings.threads > cpus) {
    top.fail("threads", "expected at most " + std::to_string(cpus) +
                            " threads, the CPUs this process may use (0 uses them all), found " +
                            std::to_string(settings.threads));
  }
  settings.distributed = read_distributed(top);
  return settings;
}

}  // namespace pinn::config
