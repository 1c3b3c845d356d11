// The memory this process may use, for limits checked when a config is read: a point count or a
// network that could never fit is refused with the figures, before anything is allocated.
#pragma once

#include <cstdint>
#include <string>

namespace pinn::util {

// The smaller of the machine's physical memory and the cgroup's memory limit (inside a container
// or a Slurm job, what the job may use).
double usable_memory_bytes();

// "1.5 GB": decimal units, one decimal.
std::string format_bytes(double bytes);

// InputError naming `where` when `bytes` (what `what` would take) exceeds the usable memory, e.g.
// "2000000000 points of 3 inputs would take 48.0 GB, more than the 8.1 GB this process may use".
void check_fits_in_memory(double bytes, const std::string& what, const std::string& where);

}  // namespace pinn::util
