// Runs monitoring plugins without ever blocking the loop.
//
// Each run is posix_spawn()ed without a shell: the argv of the check's
// command line (agent/command_line.h), as the agent's user, with a minimal
// environment (PATH and LANG only: nothing the agent holds, no
// CREDENTIALS_DIRECTORY), stdin from /dev/null, stdout and stderr into one
// pipe, every other descriptor closed, default signal dispositions and an
// empty signal mask (the daemon blocks SIGTERM for its signalfd; a plugin
// must not inherit that), in a process group of its own.
//
// The loop learns of the exit through a pidfd (Linux 5.3), or, where
// pidfd_open() is missing, a signalfd for SIGCHLD; the pipe is read
// non-blocking, up to a cap, the rest read and dropped. Once the plugin (the
// group's leader) has exited, its group is killed while the unreaped leader
// still holds the group id (so no other process can have taken it), what is
// left in the pipe is drained, the leader reaped and the pipe closed: a
// child that outlives the plugin and keeps the pipe open cannot keep a run
// going. Past its timeout the group gets SIGTERM, then SIGKILL after a
// grace. At most `max_running` run at once; the rest wait in order.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/event_loop.h"

namespace imwatch::agent {

struct RunnerLimits {
  size_t max_running = 4;      // plugins at once; the rest are queued
  size_t output_cap = 8192;    // bytes of output kept; the rest is read and dropped
  double grace = 2;            // seconds from SIGTERM to SIGKILL after a timeout
  bool use_pidfd = true;       // false: SIGCHLD through a signalfd (tests both ways)
};

// What one run came to, before any interpretation (agent/checks.h does that).
struct RunResult {
  std::string started_error;  // posix_spawn failed: "No such file or directory"; nothing ran
  int exit_code = -1;         // WEXITSTATUS, or -1
  int signal = 0;             // the signal that ended it, or 0
  bool timed_out = false;
  std::string output;     // stdout and stderr as they came, at most output_cap bytes
  size_t discarded = 0;   // bytes read past the cap and dropped
  double seconds = 0;     // from spawn to reaping, monotonic
  pid_t pid = 0;
};

class CheckRunner {
 public:
  using Done = std::function<void(RunResult)>;

  CheckRunner(EventLoop& loop, Clock& clock, RunnerLimits limits = {});
  // Kills every running group and reaps its leader (briefly blocking: SIGKILL
  // cannot be ignored); queued runs are dropped. No Done is called.
  ~CheckRunner();
  CheckRunner(const CheckRunner&) = delete;
  CheckRunner& operator=(const CheckRunner&) = delete;

  // Runs argv[0] (an absolute path) with `argv`; `done` is called from the
  // loop once it is over, also when it could not start (never from inside
  // run()).
  void run(std::vector<std::string> argv, double timeout, Done done);

  size_t running() const { return runs_.size(); }
  size_t queued() const { return queue_.size(); }
  bool using_pidfd() const { return sigchld_fd_ < 0; }

 private:
  struct Pending {
    std::vector<std::string> argv;
    double timeout;
    Done done;
  };
  struct Run;

  void start(Pending p);
  void start_failed(Pending p, const std::string& why);
  void on_readable(uint64_t id);
  void on_exited(uint64_t id);
  void on_timeout(uint64_t id);
  void on_sigchld();
  void finish(Run& r, int wait_status);
  void start_queued();
  void read_some(Run& r, size_t budget);

  EventLoop& loop_;
  Clock& clock_;
  RunnerLimits limits_;
  std::map<uint64_t, std::unique_ptr<Run>> runs_;
  std::deque<Pending> queue_;
  uint64_t next_id_ = 1;
  int sigchld_fd_ = -1;  // the fallback's signalfd, or -1 with pidfds
};

// "SIGTERM", "SIGKILL", "signal 42".
std::string signal_name(int sig);

}  // namespace imwatch::agent
