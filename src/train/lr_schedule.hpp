// Learning-rate schedules for Adam ("lr_schedule" of an adam stage): the rate at each step of the
// stage, from the stage's "lr". A linear warmup (from lr / warmup to lr over `warmup` steps) may
// precede any of them; the schedule then counts its steps from the warmup's end.
//   exponential   lr * rate^(k / steps), or rate^floor(k / steps) with staircase
//   cosine        from lr to final_lr over `steps` (default: the stage's iterations), then final_lr
//   step          lr * rate^floor(k / steps)
//   inverse_time  lr / (1 + rate * k / steps)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/reader.hpp"

namespace pinn::train {

struct LearningRateSchedule {
  std::string type = "constant";
  double rate = 1;  // exponential, step: the factor; inverse_time: the decay
  int64_t steps = 1;
  bool staircase = false;
  double final_lr = 0;  // cosine
  int64_t warmup = 0;

  // The learning rate at step k of the stage (k = 0 for its first step).
  double at(double lr, int64_t k) const;
};

std::vector<std::string> schedule_types();
// Reads "lr_schedule" (an object with "type") of a stage with `iterations` steps.
LearningRateSchedule read_schedule(config::Reader& stage, int iterations);

}  // namespace pinn::train
