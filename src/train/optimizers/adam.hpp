// Adam: its settings, their reader and its stage (train/stage.hpp's interface). The update is
// torch::optim::Adam's (not amsgrad), with an optional learning-rate schedule.
#pragma once

#include <vector>

#include "train/lr_schedule.hpp"

namespace pinn::train {

struct StageType;  // train/stage.hpp

struct AdamSettings {
  double lr = 1e-3;
  std::vector<double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0.0;
  LearningRateSchedule schedule;
};

// The "adam" stage type: its keys (lr, betas, eps, weight_decay, lr_schedule) and its stage.
StageType adam_stage_type();

}  // namespace pinn::train
