// Choosing the CPU thread count.
#include "util/threads.hpp"

#include <ATen/Parallel.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace pinn::util {

int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  return static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
}

void use_threads(int requested) {
  if (requested <= 0) {
    const char* environment = std::getenv("OMP_NUM_THREADS");
    // LibTorch has already taken its count from a set OMP_NUM_THREADS.
    if (environment != nullptr && std::atoi(environment) > 0) return;
    requested = usable_cpus();
  }
  if (at::get_num_threads() != requested) at::set_num_threads(requested);
}

}  // namespace pinn::util
