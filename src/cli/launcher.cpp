// Starting the ranks of a local run across processes, forwarding signals, collecting exit codes.
#include "cli/launcher.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

#include "util/errors.hpp"

namespace pinn::cli {

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> received{0};

extern "C" void on_launcher_signal(int signal_number) {
  received.store(signal_number);
}

void install_forwarding() {
  struct sigaction action {};
  action.sa_handler = on_launcher_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int signal_number : {SIGTERM, SIGINT, SIGUSR1})
    sigaction(signal_number, &action, nullptr);
}

// A TCP port free on 127.0.0.1 now (the kernel's choice); rank 0 binds it moments later.
int free_port() {
  const int socket_fd = socket(AF_INET, SOCK_STREAM, 0);
  if (socket_fd < 0) throw OutputError("launch: cannot open a socket to find a free port");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  const bool found = bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                     getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(socket_fd);
  if (!found) throw OutputError("launch: cannot find a free port on 127.0.0.1; pass --master-port");
  return ntohs(address.sin_port);
}

std::string own_binary() {
  std::error_code error;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw OutputError("launch: cannot find its own binary (/proc/self/exe)");
  return path.string();
}

pid_t start_rank(const std::string& binary, const LaunchOptions& options, int rank, int port) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // A group of its own: a Ctrl-C on the terminal reaches the launcher alone, which passes it on
  // once (a second SIGINT would end a rank without its checkpoint). And should the launcher die,
  // its ranks get a SIGTERM: they checkpoint together and exit.
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  const auto set = [](const char* name, const std::string& value) {
    setenv(name, value.c_str(), 1);
  };
  set("RANK", std::to_string(rank));
  set("LOCAL_RANK", std::to_string(rank));
  set("WORLD_SIZE", std::to_string(options.processes));
  set("LOCAL_WORLD_SIZE", std::to_string(options.processes));
  set("MASTER_ADDR", "127.0.0.1");
  set("MASTER_PORT", std::to_string(port));
  std::vector<std::string> arguments = {binary};
  arguments.insert(arguments.end(), options.child_arguments.begin(), options.child_arguments.end());
  std::vector<char*> argv;
  for (auto& argument : arguments)
    argv.push_back(argument.data());
  argv.push_back(nullptr);
  execv(binary.c_str(), argv.data());
  _exit(127);
}

// The exit code a shell would report for `status`.
int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return kExitInternal;
}

std::string how_it_ended(int status) {
  if (WIFSIGNALED(status)) {
    return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "exited with code " + std::to_string(exit_code(status));
}

void signal_all(const std::map<pid_t, int>& running, int signal_number) {
  for (const auto& [pid, rank] : running)
    kill(pid, signal_number);
}

}  // namespace

std::vector<std::string> child_arguments(const std::vector<std::string>& arguments) {
  std::vector<std::string> kept;
  bool launch_seen = false;
  for (size_t i = 0; i < arguments.size(); ++i) {
    const std::string& argument = arguments[i];
    if (!launch_seen && argument == "launch") {
      launch_seen = true;
      continue;
    }
    const bool takes_value =
        argument == "--nproc" || argument == "--master-port" || argument == "--grace-seconds";
    if (takes_value) {
      ++i;
      continue;
    }
    if (argument.rfind("--nproc=", 0) == 0 || argument.rfind("--master-port=", 0) == 0 ||
        argument.rfind("--grace-seconds=", 0) == 0) {
      continue;
    }
    kept.push_back(argument);
  }
  return kept;
}

int launch_command(const LaunchOptions& options) {
  if (options.processes < 1) {
    throw InputError("--nproc", "expected a number of processes >= 1, found " +
                                    std::to_string(options.processes));
  }
  if (options.port < 0 || options.port > 65535) {
    throw InputError("--master-port",
                     "expected a TCP port from 1 to 65535 (0: a free one), found " +
                         std::to_string(options.port));
  }
  if (!(options.grace_seconds >= 0)) {
    throw InputError("--grace-seconds", "expected a number of seconds >= 0");
  }
  const int port = options.port > 0 ? options.port : free_port();
  const std::string binary = own_binary();
  install_forwarding();
  spdlog::info("launch: {} ranks on 127.0.0.1:{}", options.processes, port);
  std::map<pid_t, int> running;  // pid -> rank
  for (int rank = 0; rank < options.processes; ++rank) {
    const pid_t pid = start_rank(binary, options, rank, port);
    if (pid < 0) {
      signal_all(running, SIGKILL);
      throw OutputError("launch: cannot start rank " + std::to_string(rank));
    }
    running[pid] = rank;
  }
  int result = kExitOk;
  bool failed = false;
  Clock::time_point failed_at;
  int forwarded = 0;
  while (!running.empty()) {
    if (const int signal_number = received.exchange(0); signal_number != 0) {
      signal_all(running, signal_number);
      forwarded = signal_number;
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0 && running.count(pid) != 0) {
      const int rank = running[pid];
      running.erase(pid);
      const int code = exit_code(status);
      if (code == kExitInterrupted) {
        // Stopped on request, with the others (they agreed on the step): not a failure.
        if (result == kExitOk) result = code;
        if (forwarded == 0) spdlog::info("launch: rank {} stopped after a checkpoint", rank);
      } else if (code != kExitOk && !failed) {
        if (result == kExitOk || result == kExitInterrupted) result = code;
        // A rank that failed said why in its own error line; this one only says which it was.
        spdlog::warn("launch: rank {} (pid {}) {}", rank, pid, how_it_ended(status));
        failed = true;
        failed_at = Clock::now();
      }
      continue;
    }
    if (failed &&
        std::chrono::duration<double>(Clock::now() - failed_at).count() > options.grace_seconds) {
      for (const auto& [other, rank] : running)
        spdlog::error("launch: rank {} (pid {}) did not end by itself: killed", rank, other);
      signal_all(running, SIGKILL);
      failed = false;  // reap them
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return result;
}

}  // namespace pinn::cli
