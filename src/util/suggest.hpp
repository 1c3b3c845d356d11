// "Did you mean" suggestions for misspelled keys, names and choices.
#pragma once

#include <string>
#include <vector>

namespace pinn {

// Edit distance between two strings (insertions, deletions, substitutions, neighbour swaps).
int edit_distance(const std::string& a, const std::string& b);

// The closest candidate when it is close enough to be a plausible typo, else "".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" or "" when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

// "'a', 'b' or 'c'"
std::string quoted_list(const std::vector<std::string>& items,
                        const std::string& last_joiner = "or");

}  // namespace pinn
