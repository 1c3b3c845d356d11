// Stop requests: SIGTERM, SIGINT and SIGUSR1 (what Slurm's --signal sends before a time limit or
// a preemption) ask a run to stop at the next step it can checkpoint; a second SIGINT ends the
// process at once. The handlers only set a flag, which the trainer polls between steps.
#pragma once

namespace pinn::util {

void install_stop_handlers();
bool stop_requested();
// The signal that asked to stop (0 if none).
int stop_signal();
// Asks to stop as a signal would (tests; the trainer's own time limits).
void request_stop(int signal_number);
void clear_stop_request();

}  // namespace pinn::util
