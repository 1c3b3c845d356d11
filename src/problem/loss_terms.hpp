// Loss terms: the config's "losses" list. A term is a residual on a point set; the condition
// types (dirichlet, neumann, robin, initial, data) are written as residuals here, so that the
// rest of pinn-train sees one kind of term. Periodic terms match a face with the opposite one.
#pragma once

#include <vector>

#include "config/reader.hpp"
#include "problem/problem.hpp"

namespace pinn::problem {

std::vector<std::string> loss_term_types();

// Reads the "losses" list. Periodic terms add their partner point sets to `problem.point_sets`.
std::vector<LossTerm> read_loss_terms(config::Reader& top, Problem& problem);

// The name of an existing point set at reader/key, with a "did you mean" otherwise.
std::string read_point_set_name(config::Reader& reader, const std::string& key,
                                const std::map<std::string, PointSet>& sets);

}  // namespace pinn::problem
