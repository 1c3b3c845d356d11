// `pinn-train launch --nproc N CONFIG [options]`: one run across N local processes, as
// `torchrun --standalone --nproc-per-node N` starts them: each child is this binary with the same
// arguments (less the launcher's own) and RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1 and a free MASTER_PORT in its environment.
//
// Signals to the launcher (SIGTERM, SIGINT, SIGUSR1) go to every child, which checkpoint together
// and exit 6. When a child fails, the others get `grace_seconds` to notice and end by themselves
// (they name the lost rank), then are killed. The exit code is the first failure's, else 0 (or 6
// when the ranks were stopped).
#pragma once

#include <string>
#include <vector>

namespace pinn::cli {

struct LaunchOptions {
  int processes = 1;
  int port = 0;  // 0: a free one
  double grace_seconds = 30;
  std::vector<std::string> child_arguments;  // argv[1..] of each child
};

int launch_command(const LaunchOptions& options);

// The command line of each child: `arguments` (argv[1..] of the launcher) without "launch" and
// the launcher's own options (--nproc N, --master-port P, with '=' or not).
std::vector<std::string> child_arguments(const std::vector<std::string>& arguments);

}  // namespace pinn::cli
