// Where this process stands in a distributed run: its rank among how many, its rank on its node,
// and where the rendezvous (a c10d TCPStore on rank 0) listens. Read from the environment that a
// launcher leaves, in this order:
//   torchrun (and `pinn-train launch`): RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT;
//   a Slurm step (`srun`): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of
//     SLURM_STEP_NODELIST (or SLURM_JOB_NODELIST), and a port derived from SLURM_JOB_ID, so that
//     every rank of a step computes the same one without talking first (MASTER_ADDR and
//     MASTER_PORT, when set, take precedence).
// A run of one process (no such variables, or a world of one) is not distributed.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace pinn::distributed {

struct Launch {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_address;
  int master_port = 0;
  std::string launcher;  // "torchrun" or "slurm": which variables it came from
};

// The value of an environment variable, or nullopt when unset (or empty).
using Environment = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment.
Environment process_environment();

// The launch the environment describes, or nullopt for a run of one process. An InputError names
// the variables when they are incomplete or inconsistent (RANK without WORLD_SIZE, a rank not
// below the world size, a port that is no port, ...).
std::optional<Launch> launch_from(const Environment& environment);

// The first host of a Slurm host list: "node[03-05,9],gpu1" -> "node03", "a,b" -> "a".
std::string first_host(const std::string& host_list);

// The rendezvous port of a Slurm job: 29500 + the job id modulo 10000 (ports 29500-39499), so that
// jobs sharing a node rarely meet on one port.
int slurm_port(long long job_id);

}  // namespace pinn::distributed
