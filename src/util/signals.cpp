// The signal handlers behind stop requests.
#include "util/signals.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace pinn::util {

namespace {

std::atomic<int> requested{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs a lock-free flag");

// The exit status of a process ended by a second SIGINT: the shell's convention, 128 + SIGINT.
constexpr int kExitImmediately = 128 + SIGINT;

extern "C" void on_stop_signal(int signal_number) {
  if (signal_number == SIGINT && requested.load() != 0) _exit(kExitImmediately);
  requested.store(signal_number);
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal_number : {SIGTERM, SIGINT, SIGUSR1})
    sigaction(signal_number, &action, nullptr);
}

bool stop_requested() {
  return requested.load(std::memory_order_relaxed) != 0;
}

int stop_signal() {
  return requested.load();
}

void request_stop(int signal_number) {
  requested.store(signal_number);
}

void clear_stop_request() {
  requested.store(0);
}

}  // namespace pinn::util
