// Reading the launcher's environment.
#include "distributed/launch.hpp"

#include <cstdlib>
#include <stdexcept>

#include "util/errors.hpp"

namespace pinn::distributed {

namespace {

// The variable `name` as an integer in [low, high]; an InputError naming it otherwise.
long long integer(const Environment& environment, const std::string& name, long long low,
                  long long high) {
  const std::string text = *environment(name);
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || used == 0 || value < low || value > high) {
    throw InputError("the environment variable " + name + " is '" + text +
                     "': expected an integer from " + std::to_string(low) + " to " +
                     std::to_string(high));
  }
  return value;
}

bool has(const Environment& environment, const std::string& name) {
  return environment(name).has_value();
}

// Both or neither of `a` and `b`.
void require_together(const Environment& environment, const std::string& a, const std::string& b) {
  if (has(environment, a) != has(environment, b)) {
    const std::string& set = has(environment, a) ? a : b;
    const std::string& missing = has(environment, a) ? b : a;
    throw InputError("the environment sets " + set + " but not " + missing +
                     ": a distributed launch needs both");
  }
}

constexpr long long kMaxWorld = 1 << 20;

std::optional<Launch> torchrun_launch(const Environment& environment) {
  require_together(environment, "RANK", "WORLD_SIZE");
  if (!has(environment, "RANK")) return std::nullopt;
  Launch launch;
  launch.launcher = "torchrun";
  launch.world_size = static_cast<int>(integer(environment, "WORLD_SIZE", 1, kMaxWorld));
  launch.rank = static_cast<int>(integer(environment, "RANK", 0, launch.world_size - 1));
  launch.local_rank = has(environment, "LOCAL_RANK")
                          ? static_cast<int>(integer(environment, "LOCAL_RANK", 0, kMaxWorld))
                          : launch.rank;
  if (launch.world_size == 1) return launch;
  require_together(environment, "MASTER_ADDR", "MASTER_PORT");
  if (!has(environment, "MASTER_ADDR")) {
    throw InputError(
        "the environment sets RANK and WORLD_SIZE = " + std::to_string(launch.world_size) +
        " but not MASTER_ADDR and MASTER_PORT: where should the ranks meet?");
  }
  launch.master_address = *environment("MASTER_ADDR");
  launch.master_port = static_cast<int>(integer(environment, "MASTER_PORT", 1, 65535));
  return launch;
}

std::optional<Launch> slurm_launch(const Environment& environment) {
  if (!has(environment, "SLURM_PROCID") || !has(environment, "SLURM_NTASKS")) return std::nullopt;
  Launch launch;
  launch.launcher = "slurm";
  launch.world_size = static_cast<int>(integer(environment, "SLURM_NTASKS", 1, kMaxWorld));
  launch.rank = static_cast<int>(integer(environment, "SLURM_PROCID", 0, launch.world_size - 1));
  launch.local_rank = has(environment, "SLURM_LOCALID")
                          ? static_cast<int>(integer(environment, "SLURM_LOCALID", 0, kMaxWorld))
                          : 0;
  if (launch.world_size == 1) return launch;
  if (has(environment, "MASTER_ADDR")) {
    launch.master_address = *environment("MASTER_ADDR");
  } else {
    const char* list =
        has(environment, "SLURM_STEP_NODELIST") ? "SLURM_STEP_NODELIST" : "SLURM_JOB_NODELIST";
    if (!has(environment, list)) {
      throw InputError("a Slurm step of " + std::to_string(launch.world_size) +
                       " tasks without SLURM_JOB_NODELIST (or MASTER_ADDR): where should the "
                       "ranks meet?");
    }
    launch.master_address = first_host(*environment(list));
  }
  if (has(environment, "MASTER_PORT")) {
    launch.master_port = static_cast<int>(integer(environment, "MASTER_PORT", 1, 65535));
  } else if (has(environment, "SLURM_JOB_ID")) {
    launch.master_port = slurm_port(integer(environment, "SLURM_JOB_ID", 0, 1LL << 62));
  } else {
    throw InputError("a Slurm step without SLURM_JOB_ID (or MASTER_PORT): no rendezvous port");
  }
  return launch;
}

}  // namespace

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

std::optional<Launch> launch_from(const Environment& environment) {
  std::optional<Launch> launch = torchrun_launch(environment);
  if (!launch) launch = slurm_launch(environment);
  if (!launch || launch->world_size == 1) return std::nullopt;
  return launch;
}

std::string first_host(const std::string& host_list) {
  // The first entry ends at the first comma outside brackets.
  size_t end = 0;
  int depth = 0;
  for (; end < host_list.size(); ++end) {
    const char c = host_list[end];
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) break;
  }
  const std::string entry = host_list.substr(0, end);
  const size_t open = entry.find('[');
  if (open == std::string::npos) return entry;
  // prefix[03-05,9]: the first range's first number, zero padding kept.
  const size_t stop = entry.find_first_of("-,]", open + 1);
  return entry.substr(0, open) + entry.substr(open + 1, stop - open - 1);
}

int slurm_port(long long job_id) {
  return 29500 + static_cast<int>(job_id % 10000);
}

}  // namespace pinn::distributed
