// Run settings: the top-level keys that say how and where to run (name, device, dtype, seed,
// derivative engine, CPU threads, output directory, checkpoints), with their defaults. The
// problem's own keys (inputs, points, losses, ...) are read by problem/, the network by model/, the
// stages by train/.
#pragma once

#include <string>
#include <vector>

#include "config/reader.hpp"

namespace pinn::config {

// "distributed": one run across processes (src/distributed), "auto" or "off", or an object.
struct DistributedSettings {
  bool enabled = true;     // "auto": when the launcher's environment names several ranks
  double timeout_s = 300;  // the rendezvous, and a collective that a rank does not join
  int check_every = 0;  // compare a checksum of the weights across ranks every K steps (0: never)
};

struct RunSettings {
  std::string name;                  // default: the config file's stem
  std::string device = "auto";       // cpu, cuda, cuda:N or auto
  std::string dtype = "float32";     // float32 or float64
  bool tf32 = false;                 // CUDA float32 matmuls on TF32 tensor cores
  int seed = 0;                      // network initialisation; point sets derive theirs from it
  std::string derivatives = "auto";  // the derivative engine
  bool fused_loss = true;            // pointwise loss terms inside the taylor engine's pass
  std::string output;                // run directory; default runs/<name>
  bool plots = false;                // draw the run's PNGs at its end (scripts/plot_run.py)
  bool keep_best = false;            // write the best log point's weights as model_best.pt
  int checkpoint_every = 1000;       // steps between checkpoints (0: only at stage ends, stops)
  int threads = 0;                   // CPU threads; 0: OMP_NUM_THREADS, else every CPU we may use
  DistributedSettings distributed;
};

// Reads the run settings from the top-level object (marking the keys it owns as known).
// `engine_names`: what "derivatives" may be; the engines are derivatives/'s to name, and config/
// sits below it, so the composition root (cli/setup.cpp) passes them in.
RunSettings read_run_settings(Reader& top, const std::string& default_name,
                              const std::vector<std::string>& engine_names);

}  // namespace pinn::config
