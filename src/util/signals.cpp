// The signal handlers behind stop requests.
#include "util/signals.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace pinn::util {

namespace {

std::atomic<int> requested{0};
std::atomic<bool> agreement{false};  // stop_requested() reports `agreed`
std::atomic<int> agreed{0};
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
  return stop_signal() != 0;
}

int stop_signal() {
  return agreement.load() ? agreed.load() : requested.load();
}

int signal_pending() {
  return requested.load();
}

void require_agreement() {
  agreement.store(true);
}

void agree_on_stop(int signal_number) {
  agreed.store(signal_number);
}

void request_stop(int signal_number) {
  requested.store(signal_number);
}

void clear_stop_request() {
  requested.store(0);
  agreed.store(0);
}

}  // namespace pinn::util
