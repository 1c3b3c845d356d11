// Error types that map to the documented exit codes. Anything the user can fix (config, CLI,
// data files, an existing run directory) is an InputError: exit 2, one clear message, no trace.
#pragma once

#include <stdexcept>
#include <string>

namespace pinn {

// Exit codes, documented in the README.
enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,        // a bug or an unexpected library failure
  kExitBadInput = 2,        // config, command line, data files, existing run directory
  kExitDevice = 3,          // the requested device is not available
  kExitTrainingFailed = 4,  // the loss became NaN or infinite
  kExitOutputFailed = 5,    // the run directory could not be written
  kExitInterrupted = 6,     // stopped by a signal after writing a checkpoint: resume it
  kExitDistributed = 7,     // a run across processes lost a rank, or its rendezvous failed
};

// A problem with what the user gave us. `where` names the file and JSON path, e.g.
// "configs/a.json: /losses/2/residual"; the message says what was expected and what was found.
class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& message) : std::runtime_error(message) {}
  InputError(const std::string& where, const std::string& message)
      : std::runtime_error(where.empty() ? message : where + ": " + message) {}
};

class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace pinn
