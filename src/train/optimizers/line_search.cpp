// Moré–Thuente: the interval of uncertainty [stx, sty] (unordered) with the best point stx, and
// a step rule (next_step) that picks a trial point by the four cases of the paper's section 4.
#include "train/optimizers/line_search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pinn::train {

namespace {

// How far a trial point may move beyond the last one before a minimiser is bracketed.
constexpr double kExtrapolateLow = 1.1, kExtrapolateHigh = 4.0;

// One end of the interval: its step, value and slope.
struct End {
  double step = 0, value = 0, slope = 0;
};

double max3(double a, double b, double c) {
  return std::max(a, std::max(b, c));
}

// The minimiser of the cubic that interpolates (a.step, a.value, a.slope) and
// (b.step, b.value, b.slope), written as the paper's theta/gamma formula from the side of `b`;
// `clamp_gamma` takes a negative discriminant as zero (the cubic has no minimum, case 3).
double cubic_step(const End& a, const End& b, bool clamp_gamma) {
  const double theta = 3 * (a.value - b.value) / (b.step - a.step) + a.slope + b.slope;
  const double s = max3(std::abs(theta), std::abs(a.slope), std::abs(b.slope));
  double discriminant = (theta / s) * (theta / s) - (a.slope / s) * (b.slope / s);
  if (clamp_gamma) discriminant = std::max(0.0, discriminant);
  double gamma = s * std::sqrt(discriminant);
  if (b.step > a.step) gamma = -gamma;
  const double p = (gamma - b.slope) + theta;
  const double q = ((gamma - b.slope) + gamma) + a.slope;
  return b.step + p / q * (a.step - b.step);
}

// The step of the secant through the slopes of a and b.
double secant_step(const End& a, const End& b) {
  return b.step + b.slope / (b.slope - a.slope) * (a.step - b.step);
}

// dcstep: updates the interval [best, other] with the trial point and returns the next trial
// step; `bracketed` becomes true once the interval holds a minimiser.
double next_step(End& best, End& other, const End& trial, bool& bracketed, double low,
                 double high) {
  const double sign = trial.slope * (best.slope / std::abs(best.slope));
  double step = 0;
  if (trial.value > best.value) {
    // Case 1: a higher value; the minimum is bracketed. The cubic step, or halfway to the
    // quadratic one when that is closer to the best point.
    const double theta =
        3 * (best.value - trial.value) / (trial.step - best.step) + best.slope + trial.slope;
    const double s = max3(std::abs(theta), std::abs(best.slope), std::abs(trial.slope));
    double gamma = s * std::sqrt((theta / s) * (theta / s) - (best.slope / s) * (trial.slope / s));
    if (trial.step < best.step) gamma = -gamma;
    const double p = (gamma - best.slope) + theta;
    const double q = ((gamma - best.slope) + gamma) + trial.slope;
    const double cubic = best.step + p / q * (trial.step - best.step);
    const double quadratic =
        best.step + best.slope /
                        ((best.value - trial.value) / (trial.step - best.step) + best.slope) / 2 *
                        (trial.step - best.step);
    step = std::abs(cubic - best.step) < std::abs(quadratic - best.step)
               ? cubic
               : cubic + (quadratic - cubic) / 2;
    bracketed = true;
  } else if (sign < 0) {
    // Case 2: lower, with slopes of opposite signs; bracketed. The step farther from the trial.
    const double cubic = cubic_step(best, trial, false);
    const double secant = secant_step(best, trial);
    step = std::abs(cubic - trial.step) > std::abs(secant - trial.step) ? cubic : secant;
    bracketed = true;
  } else if (std::abs(trial.slope) < std::abs(best.slope)) {
    // Case 3: lower, the same sign, the slope decreasing in size.
    const double theta =
        3 * (best.value - trial.value) / (trial.step - best.step) + best.slope + trial.slope;
    const double s = max3(std::abs(theta), std::abs(best.slope), std::abs(trial.slope));
    double gamma = s * std::sqrt(std::max(
                           0.0, (theta / s) * (theta / s) - (best.slope / s) * (trial.slope / s)));
    if (trial.step > best.step) gamma = -gamma;
    const double p = (gamma - trial.slope) + theta;
    const double q = (gamma + (best.slope - trial.slope)) + gamma;
    const double r = p / q;
    double cubic = 0;
    if (r < 0 && gamma != 0) {
      cubic = trial.step + r * (best.step - trial.step);
    } else {
      cubic = trial.step > best.step ? high : low;
    }
    const double secant = secant_step(best, trial);
    if (bracketed) {
      step = std::abs(cubic - trial.step) < std::abs(secant - trial.step) ? cubic : secant;
      const double limit = trial.step + 0.66 * (other.step - trial.step);
      step = trial.step > best.step ? std::min(limit, step) : std::max(limit, step);
    } else {
      step = std::abs(cubic - trial.step) > std::abs(secant - trial.step) ? cubic : secant;
      step = std::max(low, std::min(high, step));
    }
  } else {
    // Case 4: lower, the same sign, the slope not decreasing: the cubic through the trial and
    // the other end when bracketed, else the limit in the direction of descent.
    if (bracketed) {
      step = cubic_step(other, trial, false);
    } else {
      step = trial.step > best.step ? high : low;
    }
  }
  if (trial.value > best.value) {
    other = trial;
  } else {
    if (sign < 0) other = best;
    best = trial;
  }
  return step;
}

}  // namespace

LineSearchResult more_thuente(const LineFunction& line, double value, double slope,
                              double first_step, const LineSearchOptions& options) {
  LineSearchResult result;
  if (!(slope < 0) || !(first_step > 0)) return result;
  const double decrease = options.sufficient_decrease * slope;  // the Armijo line's slope
  double max_step = options.max_step;
  double step = std::min(std::max(first_step, options.min_step), max_step);
  bool bracketed = false;
  bool modified = true;  // stage 1: work on the function minus the Armijo line
  double width = max_step - options.min_step, previous_width = 2 * width;
  End best{0, value, slope}, other{0, value, slope};
  double low = 0, high = step + kExtrapolateHigh * step;

  while (result.evaluations < options.max_evaluations) {
    const LinePoint trial = line(step);
    ++result.evaluations;
    result.point = trial;
    if (!std::isfinite(trial.value) || !std::isfinite(trial.slope)) {
      // Too far (an overflow): no step beyond halfway back to the best point is tried again.
      max_step = best.step + 0.5 * (trial.step - best.step);
      step = max_step;
      if (!(step > options.min_step) || step - best.step <= options.relative_width * step) {
        return result;
      }
      continue;
    }
    const double armijo = value + trial.step * decrease;
    if (modified && trial.value <= armijo && trial.slope >= 0) modified = false;
    if (trial.value <= armijo && std::abs(trial.slope) <= -options.curvature * slope) {
      result.found = true;
      return result;
    }
    // The warnings of dcsrch: no further progress is possible.
    if (bracketed && (trial.step <= low || trial.step >= high)) return result;
    if (bracketed && high - low <= options.relative_width * high) return result;
    if (trial.step == max_step && trial.value <= armijo && trial.slope <= decrease) {
      return result;
    }
    if (trial.step == options.min_step && (trial.value > armijo || trial.slope >= decrease)) {
      return result;
    }

    End current{trial.step, trial.value, trial.slope};
    if (modified && trial.value <= best.value && trial.value > armijo) {
      // Stage 1 with a lower value above the Armijo line: step on the modified function.
      const auto shifted = [&](const End& e) {
        return End{e.step, e.value - e.step * decrease, e.slope - decrease};
      };
      End b = shifted(best), o = shifted(other);
      step = next_step(b, o, shifted(current), bracketed, low, high);
      best = {b.step, b.value + b.step * decrease, b.slope + decrease};
      other = {o.step, o.value + o.step * decrease, o.slope + decrease};
    } else {
      step = next_step(best, other, current, bracketed, low, high);
    }
    if (bracketed) {
      // Bisect when the interval did not shrink enough over two steps.
      if (std::abs(other.step - best.step) >= 0.66 * previous_width) {
        step = best.step + 0.5 * (other.step - best.step);
      }
      previous_width = width;
      width = std::abs(other.step - best.step);
      low = std::min(best.step, other.step);
      high = std::max(best.step, other.step);
    } else {
      low = step + kExtrapolateLow * (step - best.step);
      high = step + kExtrapolateHigh * (step - best.step);
    }
    step = std::min(std::max(step, options.min_step), max_step);
    if (bracketed && (step <= low || step >= high || high - low <= options.relative_width * high)) {
      step = best.step;
    }
  }
  return result;
}

}  // namespace pinn::train
