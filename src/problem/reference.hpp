// The reference solution: "reference" in the config, given per output as an expression of the
// inputs ("solution") or as columns of a CSV file ("file"), and the points where the errors
// against it (relative L2, max) and the mean |residual| of chosen terms are measured.
#pragma once

#include "config/reader.hpp"
#include "problem/point_set.hpp"
#include "problem/problem.hpp"

namespace pinn::problem {

// Reads "reference" if present (after the losses, whose names "residuals" may use).
Reference read_reference(config::Reader& top, const Problem& problem,
                         const SamplingContext& context);

}  // namespace pinn::problem
