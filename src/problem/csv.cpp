// CSV reading with precise errors, and atomic CSV writing.
#include "problem/csv.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <limits>
#include <sstream>

#include "util/errors.hpp"
#include "util/files.hpp"
#include "util/suggest.hpp"

namespace pinn::problem {

namespace {

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

// The fields of one line (RFC 4180): a field in double quotes may hold commas, and "" inside it
// stands for one quote (column names such as d(u,x,y) are written so).
std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted && ch == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      field += '"';
      ++i;
    } else if (ch == '"') {
      quoted = !quoted;
    } else if (ch == ',' && !quoted) {
      fields.push_back(trim(field));
      field.clear();
    } else {
      field += ch;
    }
  }
  fields.push_back(trim(field));
  return fields;
}

// A cell as a message may quote it: at most 40 characters, control bytes (a NUL) as '?'.
std::string printable(const std::string& cell) {
  std::string text = cell.size() > 40 ? cell.substr(0, 37) + "..." : cell;
  for (char& ch : text) {
    if (static_cast<unsigned char>(ch) < 0x20) ch = '?';
  }
  return text;
}

}  // namespace

int CsvTable::column_index(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return static_cast<int>(i);
  }
  return -1;
}

torch::Tensor CsvTable::select(const std::vector<std::string>& names,
                               const std::string& source) const {
  std::vector<int> indices;
  for (const auto& name : names) {
    const int index = column_index(name);
    if (index < 0) {
      throw InputError(source, "column '" + name + "' is missing" + did_you_mean(name, columns) +
                                   "; the header has " + quoted_list(columns, "and"));
    }
    indices.push_back(index);
  }
  auto values = torch::empty(
      {static_cast<int64_t>(rows.size()), static_cast<int64_t>(names.size())}, torch::kFloat64);
  auto access = values.accessor<double, 2>();
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < indices.size(); ++c)
      access[r][c] = rows[r][indices[c]];
  }
  return values;
}

CsvTable read_csv_at(const config::Reader& reader, const std::string& key,
                     const std::filesystem::path& path) {
  std::error_code error;
  if (!std::filesystem::exists(path, error) && !error) {
    reader.fail(key, path.string() +
                         " does not exist (a relative path is resolved against the config file's "
                         "directory; the config's \"description\" may say how the file is made)");
  }
  return read_csv(path);
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char ch : text)
    quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return quoted + "\"";
}

CsvTable read_csv(const std::filesystem::path& path) {
  const std::string text = read_text_file(path);
  const std::string source = path.string();
  std::stringstream stream(text);
  std::string line;
  CsvTable table;
  int line_number = 0;
  while (std::getline(stream, line)) {
    ++line_number;
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    const auto fields = split_fields(line);
    if (table.columns.empty()) {
      for (size_t c = 0; c < fields.size(); ++c) {
        if (fields[c].empty())
          throw InputError(
              source, "line " + std::to_string(line_number) + ": empty column name in the header");
        if (std::find(fields.begin(), fields.begin() + static_cast<std::ptrdiff_t>(c), fields[c]) !=
            fields.begin() + static_cast<std::ptrdiff_t>(c)) {
          throw InputError(source, "line " + std::to_string(line_number) + ": the column '" +
                                       printable(fields[c]) + "' appears twice in the header");
        }
      }
      table.columns = fields;
      continue;
    }
    if (fields.size() != table.columns.size()) {
      throw InputError(source, "line " + std::to_string(line_number) + ": expected " +
                                   std::to_string(table.columns.size()) + " fields, found " +
                                   std::to_string(fields.size()));
    }
    std::vector<double> row;
    for (size_t c = 0; c < fields.size(); ++c) {
      char* end = nullptr;
      errno = 0;
      const double value = std::strtod(fields[c].c_str(), &end);
      const bool whole = end == fields[c].c_str() + fields[c].size();  // a NUL byte stops strtod
      if (fields[c].empty() || !whole || errno == ERANGE || !std::isfinite(value)) {
        throw InputError(source, "line " + std::to_string(line_number) + ", column '" +
                                     table.columns[c] + "': expected a finite number, found '" +
                                     printable(fields[c]) + "'");
      }
      row.push_back(value);
    }
    table.rows.push_back(std::move(row));
  }
  if (table.columns.empty()) throw InputError(source, "empty file: expected a header row");
  return table;
}

void write_csv(const std::filesystem::path& path, const std::vector<std::string>& columns,
               const torch::Tensor& values) {
  const auto table = values.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const auto access = table.accessor<double, 2>();
  write_file_atomically(path, [&](std::ostream& out) {
    for (size_t c = 0; c < columns.size(); ++c)
      out << (c ? "," : "") << csv_field(columns[c]);
    out << '\n' << std::setprecision(std::numeric_limits<double>::max_digits10);
    for (int64_t r = 0; r < table.size(0); ++r) {
      for (int64_t c = 0; c < table.size(1); ++c)
        out << (c ? "," : "") << access[r][c];
      out << '\n';
    }
  });
}

}  // namespace pinn::problem
