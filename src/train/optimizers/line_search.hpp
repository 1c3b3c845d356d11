// The Moré–Thuente line search (Moré & Thuente, "Line search algorithms with guaranteed
// sufficient decrease", ACM TOMS 20, 1994; the algorithm of MINPACK-2's dcsrch and dcstep, which
// SciPy's BFGS calls through line_search_wolfe1). It finds a step t > 0 along a descent direction
// at which the strong Wolfe conditions hold:
//   f(t) <= f(0) + c1 t f'(0)   and   |f'(t)| <= c2 |f'(0)|,
// keeping an interval of uncertainty that it narrows by safeguarded cubic and quadratic steps.
#pragma once

#include <functional>

namespace pinn::train {

struct LineSearchOptions {
  double sufficient_decrease = 1e-4;  // c1
  double curvature = 0.9;             // c2
  double relative_width = 1e-14;      // give up when the interval is this narrow (relative)
  double min_step = 1e-100;
  double max_step = 1e100;
  int max_evaluations = 100;
};

// The function along the line and its slope at step t: f(x + t d) and d . grad f(x + t d).
struct LinePoint {
  double step = 0, value = 0, slope = 0;
};
using LineFunction = std::function<LinePoint(double step)>;

struct LineSearchResult {
  bool found = false;  // the strong Wolfe conditions hold at `point`
  LinePoint point;     // the last point evaluated (the accepted one when found)
  int evaluations = 0;
};

// From f(0) = `value`, f'(0) = `slope` < 0, trying `first_step` first. The point returned is the
// last one `line` was asked for, so a caller that keeps the gradient of its last evaluation has
// the gradient at the accepted step.
LineSearchResult more_thuente(const LineFunction& line, double value, double slope,
                              double first_step, const LineSearchOptions& options = {});

}  // namespace pinn::train
