// bench: times the training step of a config (Adam: loss, derivatives, parameter gradient,
// update) without writing a run directory, and prints one JSON line. The benchmarks under
// scripts/bench/ compare engines and plain PyTorch with it.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>

#include "cli/commands.hpp"
#include "cli/setup.hpp"
#include "derivatives/engine.hpp"
#include "derivatives/kernels/kernel_tuner.hpp"
#include "derivatives/kernels/tiled_pass.hpp"
#include "output/results.hpp"
#include "train/loss_weighting.hpp"
#include "train/objective.hpp"
#include "train/stage.hpp"
#include "train/trainer.hpp"
#include "util/errors.hpp"

namespace pinn::cli {

namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

int bench_command(const RunOptions& options, const BenchOptions& bench) {
  if (bench.steps < 1 || bench.warmup < 0 || bench.chunks < 1) {
    throw InputError("bench: --steps and --chunks must be positive and --warmup not negative");
  }
  RunOptions run = options;
  if (bench.engine) {
    run.option_overrides.emplace_back("derivatives=" + *bench.engine, "--engine " + *bench.engine);
  }
  Setup setup = prepare(run);
  const auto& engine = setup.engine;
  train::ObjectiveContext context = objective_context(setup);
  train::Objective objective(setup.problem, *setup.model, *engine, context);
  const auto trainable = trainable_tensors(setup);
  auto stage = train::make_stage(train::benchmark_stage(setup.stages), trainable);
  train::LossValues latest;
  const auto closure = train::loss_and_gradient(objective, trainable, latest);
  // Adaptive loss weights are recomputed when due (from step 0), as training does: their cost
  // counts in the steps timed.
  std::optional<train::LossWeighting> weighting;
  if (setup.weighting) weighting.emplace(*setup.weighting, setup.problem.losses.size());
  int64_t step = 0;
  const auto advance = [&](int count) {
    while (count > 0) {
      if (weighting && weighting->due(step)) weighting->update(objective, trainable);
      const int chunk =
          weighting
              ? static_cast<int>(std::min<int64_t>(count, weighting->next_update(step) - step))
              : count;
      stage->advance(chunk, closure);
      step += chunk;
      count -= chunk;
    }
  };

  const auto synchronize = [&] {
    if (setup.device.is_cuda()) torch::cuda::synchronize();
  };
  advance(bench.warmup);
  synchronize();
  // Equal chunks: the mean over all of them, and the fastest chunk (the least disturbed).
  const int per_chunk = std::max(1, bench.steps / bench.chunks);
  double total = 0, best = 0;
  for (int c = 0; c < bench.chunks; ++c) {
    const auto start = Clock::now();
    advance(per_chunk);
    synchronize();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    total += ms;
    best = c == 0 ? ms : std::min(best, ms);
  }
  const nlohmann::ordered_json result = {{"engine", engine->name()},
                                         {"dtype", setup.settings.dtype},
                                         {"device", setup.device.str()},
                                         {"points", objective.total_points()},
                                         {"steps", per_chunk * bench.chunks},
                                         {"ms_per_step", total / (per_chunk * bench.chunks)},
                                         {"ms_per_step_min", best / per_chunk},
                                         {"loss", latest.total.item<double>()},
                                         {"parameters", model::parameter_count(*setup.network)},
                                         {"threads", torch::get_num_threads()},
                                         {"cpu_kernels", engine->cpu_kernels()},
                                         {"cpu_kernel_choices", output::kernel_choices(*engine)},
                                         {"cpu_kernel_variants", derivatives::tiles::variants()},
                                         {"cpu_model", derivatives::kernels::cpu_model()},
                                         {"cuda_graph", stage->replays_cuda_graph()}};
  std::cout << result.dump() << std::endl;
  return kExitOk;
}

}  // namespace pinn::cli
