// Learning-rate schedules: one function per type, registered by its config name.
#include "train/lr_schedule.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace pinn::train {

namespace {

constexpr double kPi = 3.14159265358979323846;

struct ScheduleType {
  double (*rate)(const LearningRateSchedule& s, double lr, double k);
  bool needs_rate;  // "rate" is required
};

double constant(const LearningRateSchedule&, double lr, double) {
  return lr;
}

double exponential(const LearningRateSchedule& s, double lr, double k) {
  const double periods = k / static_cast<double>(s.steps);
  return lr * std::pow(s.rate, s.staircase ? std::floor(periods) : periods);
}

double cosine(const LearningRateSchedule& s, double lr, double k) {
  const double progress = std::min(1.0, k / static_cast<double>(s.steps));
  return s.final_lr + (lr - s.final_lr) * 0.5 * (1 + std::cos(kPi * progress));
}

double step(const LearningRateSchedule& s, double lr, double k) {
  return lr * std::pow(s.rate, std::floor(k / static_cast<double>(s.steps)));
}

double inverse_time(const LearningRateSchedule& s, double lr, double k) {
  return lr / (1 + s.rate * k / static_cast<double>(s.steps));
}

const std::map<std::string, ScheduleType>& types() {
  static const std::map<std::string, ScheduleType> table = {
      {"constant", {constant, false}},
      {"exponential", {exponential, true}},
      {"cosine", {cosine, false}},
      {"step", {step, true}},
      {"inverse_time", {inverse_time, true}},
  };
  return table;
}

}  // namespace

double LearningRateSchedule::at(double lr, int64_t k) const {
  if (k < warmup) return lr * static_cast<double>(k + 1) / static_cast<double>(warmup);
  return types().at(type).rate(*this, lr, static_cast<double>(k - warmup));
}

std::vector<std::string> schedule_types() {
  std::vector<std::string> names;
  for (const auto& entry : types())
    names.push_back(entry.first);
  return names;
}

LearningRateSchedule read_schedule(config::Reader& stage, int iterations) {
  LearningRateSchedule s;
  if (!stage.has("lr_schedule")) return s;
  config::Reader reader = stage.object("lr_schedule");
  reader.describe("type", "how Adam's rate decays from the stage's lr over its steps");
  s.type = reader.choice("type", schedule_types());
  const ScheduleType& type = types().at(s.type);
  s.warmup = reader.non_negative_int("warmup", 0, "a number of warmup steps >= 0");
  const int default_steps =
      s.type == "cosine" ? std::max(1, iterations - static_cast<int>(s.warmup)) : 1000;
  s.steps = reader.positive_int("steps", default_steps);
  if (type.needs_rate) {
    s.rate = reader.get<double>("rate");
    if (!(s.rate > 0) || (s.type != "inverse_time" && s.rate > 1)) {
      reader.fail("rate", s.type == "inverse_time"
                              ? "expected a decay rate > 0"
                              : "expected a factor in (0, 1] (a rate above 1 grows the rate)");
    }
  }
  if (s.type == "exponential") s.staircase = reader.get_or("staircase", false);
  if (s.type == "cosine") s.final_lr = reader.non_negative("final_lr", 0.0);
  reader.finish();
  return s;
}

}  // namespace pinn::train
