// CSV tables of numbers with a header row: point files, reference data and predictions.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/reader.hpp"

namespace pinn::problem {

struct CsvTable {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;

  // Index of `name` in columns, or -1.
  int column_index(const std::string& name) const;
  // The named columns as an N x k float64 tensor; InputError (naming `source`) when one is missing.
  torch::Tensor select(const std::vector<std::string>& names, const std::string& source) const;
};

// Reads a header and numeric rows; InputError naming the file, line and column on any problem.
CsvTable read_csv(const std::filesystem::path& path);

// read_csv for the file that the config value at reader/key names: a missing file is an
// InputError naming the JSON path.
CsvTable read_csv_at(const config::Reader& reader, const std::string& key,
                     const std::filesystem::path& path);

// `text` as one CSV field: as it is, or in double quotes (inner quotes doubled) when it holds a
// comma, a quote or a line break.
std::string csv_field(const std::string& text);

// Writes `columns` and the rows of `values` (N x k) atomically with full double precision.
void write_csv(const std::filesystem::path& path, const std::vector<std::string>& columns,
               const torch::Tensor& values);

}  // namespace pinn::problem
