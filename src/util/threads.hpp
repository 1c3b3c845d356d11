// How many CPU threads LibTorch and our own parallel loops use. LibTorch's default is the number
// of physical cores its cpuinfo finds, which on some virtual machines is 1 of 2 usable CPUs:
// every run then used half the machine.
#pragma once

namespace pinn::util {

// The CPUs this process may run on (its affinity mask: inside a Slurm job, the job's CPUs).
int usable_cpus();

// Sets the intra-op thread count: `requested` if positive; otherwise OMP_NUM_THREADS when it is
// set, else usable_cpus().
void use_threads(int requested);

}  // namespace pinn::util
