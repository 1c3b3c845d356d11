// The command line: parses arguments with CLI11, sets up logging, runs a command and turns
// every error into one clear message and a documented exit code (never a stack trace).
#pragma once

namespace pinn::cli {

int run_cli(int argc, char** argv);

}  // namespace pinn::cli
