// pinn-train's entry point; everything happens in cli/.
#include "cli/app.hpp"

int main(int argc, char** argv) {
  return pinn::cli::run_cli(argc, argv);
}
