// Learning-rate schedules: one record per type (its rate and its keys), registered by its config
// name.
#include "train/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "util/registry.hpp"

namespace pinn::train {

namespace {

using config::Reader;

constexpr double kPi = 3.14159265358979323846;

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

// ---- each type's keys after "warmup" ----

constexpr int kDefaultSteps = 1000;

void read_steps(Reader& reader, LearningRateSchedule& s, int fallback) {
  s.steps = reader.positive_int("steps", fallback);
}

// "rate" as a factor per `steps` steps.
void read_factor(Reader& reader, LearningRateSchedule& s) {
  s.rate = reader.get<double>("rate");
  if (!(s.rate > 0) || s.rate > 1) {
    reader.fail("rate", "expected a factor in (0, 1] (a rate above 1 grows the rate)");
  }
}

void read_constant(Reader& reader, LearningRateSchedule& s, int) {
  read_steps(reader, s, kDefaultSteps);
}

void read_exponential(Reader& reader, LearningRateSchedule& s, int) {
  read_steps(reader, s, kDefaultSteps);
  read_factor(reader, s);
  s.staircase = reader.get_or("staircase", false);
}

// Cosine decays over the stage's iterations after the warmup unless told otherwise.
void read_cosine(Reader& reader, LearningRateSchedule& s, int iterations) {
  read_steps(reader, s, std::max(1, iterations - static_cast<int>(s.warmup)));
  s.final_lr = reader.non_negative("final_lr", 0.0);
}

void read_step(Reader& reader, LearningRateSchedule& s, int) {
  read_steps(reader, s, kDefaultSteps);
  read_factor(reader, s);
}

void read_inverse_time(Reader& reader, LearningRateSchedule& s, int) {
  read_steps(reader, s, kDefaultSteps);
  s.rate = reader.get<double>("rate");
  if (!(s.rate > 0)) reader.fail("rate", "expected a decay rate > 0");
}

// One record per type: its rate at step k (after the warmup) and how its keys are read.
struct ScheduleType {
  double (*rate)(const LearningRateSchedule& s, double lr, double k);
  void (*read)(Reader& reader, LearningRateSchedule& s, int iterations);
};

const Registry<ScheduleType>& types() {
  static const Registry<ScheduleType> table("learning-rate schedule",
                                            {{"constant", {constant, read_constant}},
                                             {"exponential", {exponential, read_exponential}},
                                             {"cosine", {cosine, read_cosine}},
                                             {"step", {step, read_step}},
                                             {"inverse_time", {inverse_time, read_inverse_time}}});
  return table;
}

}  // namespace

double LearningRateSchedule::at(double lr, int64_t k) const {
  if (k < warmup) return lr * static_cast<double>(k + 1) / static_cast<double>(warmup);
  return types().get(type).rate(*this, lr, static_cast<double>(k - warmup));
}

std::vector<std::string> schedule_types() {
  return types().names();
}

LearningRateSchedule read_schedule(Reader& stage, int iterations) {
  LearningRateSchedule s;
  if (!stage.has("lr_schedule")) return s;
  Reader reader = stage.object("lr_schedule");
  reader.describe("type", "how Adam's rate decays from the stage's lr over its steps");
  s.type = reader.choice("type", schedule_types());
  s.warmup = reader.non_negative_int("warmup", 0, "a number of warmup steps >= 0");
  types().get(s.type, reader.where("type")).read(reader, s, iterations);
  reader.finish();
  return s;
}

}  // namespace pinn::train
