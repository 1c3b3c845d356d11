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

// In a run of several processes every rank must stop at the same step, though a signal reaches
// each at its own moment: after require_agreement(), stop_requested() and stop_signal() report
// the request the ranks agreed on at their last exchange (agree_on_stop, called with the largest
// signal number any rank had pending), and signal_pending() this process's own.
void require_agreement();
int signal_pending();
void agree_on_stop(int signal_number);

}  // namespace pinn::util
