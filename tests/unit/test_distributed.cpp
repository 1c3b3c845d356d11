// Unit tests of distributed/: the launch read from torchrun's and Slurm's environments (a fake
// environment), their errors, Slurm host lists and ports.
#include <gtest/gtest.h>

#include <map>

#include "distributed/group.hpp"
#include "distributed/launch.hpp"
#include "util/errors.hpp"

namespace pinn::distributed {
namespace {

Environment fake(const std::map<std::string, std::string>& variables) {
  return [variables](const std::string& name) -> std::optional<std::string> {
    const auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

std::string error_of(const std::map<std::string, std::string>& variables) {
  try {
    launch_from(fake(variables));
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

TEST(Launch, OneProcessIsNotDistributed) {
  EXPECT_FALSE(launch_from(fake({})).has_value());
  EXPECT_FALSE(launch_from(fake({{"RANK", "0"}, {"WORLD_SIZE", "1"}})).has_value());
  EXPECT_FALSE(launch_from(fake({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}})).has_value());
}

TEST(Launch, ReadsTorchrun) {
  const auto launch = launch_from(fake({{"RANK", "2"},
                                        {"WORLD_SIZE", "4"},
                                        {"LOCAL_RANK", "0"},
                                        {"MASTER_ADDR", "node7"},
                                        {"MASTER_PORT", "29400"},
                                        {"SLURM_PROCID", "1"},  // torchrun's variables first
                                        {"SLURM_NTASKS", "2"}}));
  ASSERT_TRUE(launch.has_value());
  EXPECT_EQ(launch->launcher, "torchrun");
  EXPECT_EQ(launch->rank, 2);
  EXPECT_EQ(launch->world_size, 4);
  EXPECT_EQ(launch->local_rank, 0);
  EXPECT_EQ(launch->master_address, "node7");
  EXPECT_EQ(launch->master_port, 29400);
}

TEST(Launch, ReadsASlurmStep) {
  const auto launch = launch_from(fake({{"SLURM_PROCID", "3"},
                                        {"SLURM_NTASKS", "8"},
                                        {"SLURM_LOCALID", "1"},
                                        {"SLURM_JOB_NODELIST", "gpu[012-015],cpu1"},
                                        {"SLURM_JOB_ID", "123456"}}));
  ASSERT_TRUE(launch.has_value());
  EXPECT_EQ(launch->launcher, "slurm");
  EXPECT_EQ(launch->rank, 3);
  EXPECT_EQ(launch->world_size, 8);
  EXPECT_EQ(launch->local_rank, 1);
  EXPECT_EQ(launch->master_address, "gpu012");
  EXPECT_EQ(launch->master_port, 29500 + 3456);
  // The step's node list before the job's; MASTER_ADDR and MASTER_PORT before both.
  const auto step = launch_from(fake({{"SLURM_PROCID", "0"},
                                      {"SLURM_NTASKS", "2"},
                                      {"SLURM_STEP_NODELIST", "b"},
                                      {"SLURM_JOB_NODELIST", "a,b"},
                                      {"SLURM_JOB_ID", "7"}}));
  EXPECT_EQ(step->master_address, "b");
  const auto given = launch_from(fake({{"SLURM_PROCID", "0"},
                                       {"SLURM_NTASKS", "2"},
                                       {"MASTER_ADDR", "head"},
                                       {"MASTER_PORT", "4000"}}));
  EXPECT_EQ(given->master_address, "head");
  EXPECT_EQ(given->master_port, 4000);
}

TEST(Launch, IncompleteOrInconsistentEnvironmentsAreNamed) {
  EXPECT_NE(error_of({{"RANK", "0"}}).find("sets RANK but not WORLD_SIZE"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "2"}, {"WORLD_SIZE", "2"}}).find("RANK is '2'"), std::string::npos);
  EXPECT_NE(error_of({{"RANK", "x"}, {"WORLD_SIZE", "2"}}).find("expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}}).find("MASTER_ADDR and MASTER_PORT"),
            std::string::npos);
  EXPECT_NE(
      error_of({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "70000"}})
          .find("MASTER_PORT is '70000'"),
      std::string::npos);
  EXPECT_NE(error_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_ID", "1"}})
                .find("SLURM_JOB_NODELIST"),
            std::string::npos);
  EXPECT_NE(error_of({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "a"}})
                .find("SLURM_JOB_ID"),
            std::string::npos);
}

TEST(Launch, FirstHostOfASlurmHostList) {
  EXPECT_EQ(first_host("node1"), "node1");
  EXPECT_EQ(first_host("a,b,c"), "a");
  EXPECT_EQ(first_host("node[03-05,9],gpu1"), "node03");
  EXPECT_EQ(first_host("node[7,9]"), "node7");
  EXPECT_EQ(first_host("rack1-node[10-12]"), "rack1-node10");
  EXPECT_EQ(slurm_port(0), 29500);
  EXPECT_EQ(slurm_port(20001), 29501);
}

// The shares tile the rows in rank order, differ by at most one row, and weigh each rank's mean by
// its rows; sets smaller than the group are held whole by every rank at 1/size each.
TEST(Share, SharesTileTheSetAndWeighTheirMeans) {
  for (int size : {1, 2, 3, 4, 7}) {
    for (int64_t count : {0, 1, 2, 3, 5, 6, 7, 10, 301, 1000003}) {
      int64_t next = 0, smallest = count, largest = 0;
      double fractions = 0;
      for (int rank = 0; rank < size; ++rank) {
        const Share share = share_of(count, rank, size);
        fractions += share.fraction;
        if (count < size && size > 1) {
          EXPECT_TRUE(share.replicated);
          EXPECT_EQ(share.start, 0);
          EXPECT_EQ(share.count, count);
          continue;
        }
        EXPECT_FALSE(share.replicated);
        EXPECT_EQ(share.start, next) << count << " rows, rank " << rank << " of " << size;
        EXPECT_DOUBLE_EQ(share.fraction, count == 0 ? 1.0 : double(share.count) / double(count));
        next += share.count;
        smallest = std::min(smallest, share.count);
        largest = std::max(largest, share.count);
      }
      EXPECT_NEAR(fractions, 1.0, 1e-15) << count << ", " << size;
      if (count >= size || size == 1) {
        EXPECT_EQ(next, count);
        EXPECT_LE(largest - smallest, 1);
      }
    }
  }
}

// A group of one process: every collective leaves its input as it is, and a launch of one process
// needs no rendezvous.
TEST(Group, OneProcessCollectivesAreTheIdentity) {
  Group group;
  EXPECT_EQ(group.rank(), 0);
  EXPECT_EQ(group.size(), 1);
  EXPECT_FALSE(group.distributed());
  torch::Tensor values = torch::tensor({1.5, -2.0, 3.25}, torch::kFloat64);
  const torch::Tensor before = values.clone();
  group.sum(values);
  group.max(values);
  group.broadcast(values, 0);
  EXPECT_TRUE(torch::equal(values, before));
  EXPECT_TRUE(group.any(true));
  EXPECT_FALSE(group.any(false));
  EXPECT_EQ(group.max(int64_t{42}), 42);
  EXPECT_EQ(group.traffic().collectives, 0);
  Launch one;
  one.master_address = "127.0.0.1";
  one.master_port = 1;
  const auto connected = Group::connect(one, torch::kCPU, std::chrono::milliseconds(100));
  EXPECT_FALSE(connected->distributed());
  const Share whole = connected->share(10);
  EXPECT_EQ(whole.count, 10);
  EXPECT_EQ(whole.fraction, 1.0);
}

}  // namespace
}  // namespace pinn::distributed
