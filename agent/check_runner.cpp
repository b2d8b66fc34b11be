#include "agent/check_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace imwatch::agent {

namespace {

// What a plugin gets for an environment: enough to find the tools it calls
// and to print plain ASCII numbers ('.' decimals); nothing of the agent's.
const char* const kEnvironment[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", nullptr};

// A read may take this much per wakeup: a plugin printing megabytes is
// drained at the loop's pace without starving the rest of it.
constexpr size_t kReadBudget = size_t{256} * 1024;

int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// The spawn attributes every plugin runs with (see the header).
struct SpawnSetup {
  posix_spawn_file_actions_t actions{};
  posix_spawnattr_t attr{};
  bool ok = false;

  explicit SpawnSetup(int out_fd) {
    if (posix_spawn_file_actions_init(&actions) != 0) return;
    if (posix_spawnattr_init(&attr) != 0) {
      posix_spawn_file_actions_destroy(&actions);
      return;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    ok = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) == 0 &&
         posix_spawn_file_actions_adddup2(&actions, out_fd, 1) == 0 &&
         posix_spawn_file_actions_adddup2(&actions, out_fd, 2) == 0 &&
         posix_spawn_file_actions_addclosefrom_np(&actions, 3) == 0 &&
         posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) ==
             0 &&
         posix_spawnattr_setpgroup(&attr, 0) == 0 && posix_spawnattr_setsigmask(&attr, &none) == 0 &&
         posix_spawnattr_setsigdefault(&attr, &all) == 0;
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

struct CheckRunner::Run {
  uint64_t id = 0;
  Done done;
  double timeout = 0;
  pid_t pid = 0;
  int pidfd = -1, out = -1;
  double started = 0;
  RunResult result;
  EventLoop::JobId term_timer = 0, kill_timer = 0;
};

std::string signal_name(int sig) {
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

CheckRunner::CheckRunner(EventLoop& loop, Clock& clock, RunnerLimits limits)
    : loop_(loop), clock_(clock), limits_(limits) {
  if (limits_.use_pidfd) {
    int probe = pidfd_open(::getpid());  // is there pidfd_open() on this kernel?
    if (probe >= 0) {
      ::close(probe);
      return;
    }
    spdlog::info("checks: no pidfd_open() ({}): learning of plugin exits through SIGCHLD", std::strerror(errno));
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);
  sigchld_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigchld_fd_ >= 0) loop_.add_fd(sigchld_fd_, [this] { on_sigchld(); });
}

CheckRunner::~CheckRunner() {
  for (auto& [id, r] : runs_) {
    ::kill(-r->pid, SIGKILL);
    ::waitpid(r->pid, nullptr, 0);
    loop_.cancel(r->term_timer);
    loop_.cancel(r->kill_timer);
    for (int fd : {r->pidfd, r->out})
      if (fd >= 0) {
        loop_.remove_fd(fd);
        ::close(fd);
      }
  }
  if (sigchld_fd_ >= 0) {
    loop_.remove_fd(sigchld_fd_);
    ::close(sigchld_fd_);
  }
}

void CheckRunner::run(std::vector<std::string> argv, double timeout, Done done) {
  queue_.push_back({std::move(argv), timeout, std::move(done)});
  start_queued();
}

void CheckRunner::start_queued() {
  while (!queue_.empty() && runs_.size() < limits_.max_running) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    start(std::move(p));
  }
}

void CheckRunner::start_failed(Pending p, const std::string& why) {
  // Told from the loop, never from inside run(): the caller may be in the
  // middle of something that `done` would change.
  loop_.add_timer(0, [done = std::move(p.done), why] {
    RunResult r;
    r.started_error = why;
    done(std::move(r));
  });
}

void CheckRunner::start(Pending p) {
  if (p.argv.empty() || p.argv[0].empty() || p.argv[0][0] != '/')
    return start_failed(std::move(p), "not an absolute path");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return start_failed(std::move(p), std::strerror(errno));
  std::vector<char*> argv;
  for (auto& a : p.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = EINVAL;
  {
    SpawnSetup setup(pipefd[1]);
    // glibc reports a failed exec (ENOENT, EACCES, ENOEXEC) here and reaps
    // that child itself.
    if (setup.ok)
      rc = ::posix_spawn(&pid, argv[0], &setup.actions, &setup.attr, argv.data(),
                         const_cast<char* const*>(kEnvironment));
  }
  ::close(pipefd[1]);
  if (rc != 0) {
    ::close(pipefd[0]);
    return start_failed(std::move(p), std::strerror(rc));
  }
  ::fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  auto r = std::make_unique<Run>();
  r->id = next_id_++;
  r->done = std::move(p.done);
  r->timeout = p.timeout;
  r->pid = pid;
  r->out = pipefd[0];
  r->started = clock_.now();
  r->result.pid = pid;
  const uint64_t id = r->id;
  if (sigchld_fd_ < 0) {
    // Our unreaped child: its pid cannot have been reused yet.
    r->pidfd = pidfd_open(pid);  // close-on-exec, always
    if (r->pidfd < 0) {
      // No way to hear of its exit (out of descriptors): not run after all.
      const std::string why = std::string("pidfd_open: ") + std::strerror(errno);
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ::close(r->out);
      return start_failed({{}, 0, std::move(r->done)}, why);
    }
    loop_.add_fd(r->pidfd, [this, id] { on_exited(id); });
  }
  loop_.add_fd(r->out, [this, id] { on_readable(id); });
  r->term_timer = loop_.add_timer(p.timeout, [this, id] { on_timeout(id); });
  // With the fallback, SIGCHLD was blocked before the spawn: an exit before
  // we look is pending on the signalfd, not lost.
  runs_.emplace(id, std::move(r));
}

void CheckRunner::read_some(Run& r, size_t budget) {
  char buf[16384];
  size_t got = 0;
  while (r.out >= 0 && got < budget) {
    ssize_t n = ::read(r.out, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0 || errno != EAGAIN) {  // EOF (every writer gone) or an error: nothing more to read
        loop_.remove_fd(r.out);
        ::close(r.out);
        r.out = -1;
      }
      return;
    }
    got += static_cast<size_t>(n);
    size_t keep = std::min(static_cast<size_t>(n), limits_.output_cap - std::min(limits_.output_cap, r.result.output.size()));
    r.result.output.append(buf, keep);
    r.result.discarded += static_cast<size_t>(n) - keep;
  }
}

void CheckRunner::on_readable(uint64_t id) {
  auto it = runs_.find(id);
  if (it != runs_.end()) read_some(*it->second, kReadBudget);
}

void CheckRunner::on_timeout(uint64_t id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) return;
  Run& r = *it->second;
  r.result.timed_out = true;
  ::kill(-r.pid, SIGTERM);
  r.kill_timer = loop_.add_timer(limits_.grace, [this, id] {
    if (auto k = runs_.find(id); k != runs_.end()) ::kill(-k->second->pid, SIGKILL);
  });
}

void CheckRunner::on_exited(uint64_t id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) return;
  Run& r = *it->second;
  // The leader is a zombie: it still holds the group id, so this reaches
  // its group and nothing else. Whatever it left behind goes with it.
  ::kill(-r.pid, SIGKILL);
  read_some(r, size_t{1024} * 1024);  // what is in the pipe already; a writer still alive cannot keep us
  int status = 0;
  pid_t got;
  do got = ::waitpid(r.pid, &status, WNOHANG);
  while (got < 0 && errno == EINTR);
  if (got != r.pid) {
    // Not exited after all (the SIGCHLD fallback asks every run): wait on.
    if (got == 0) return;
    spdlog::error("checks: waitpid({}): {}", r.pid, std::strerror(errno));
  }
  finish(r, got == r.pid ? status : -1);
}

void CheckRunner::on_sigchld() {
  signalfd_siginfo si{};
  while (::read(sigchld_fd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
  }
  // SIGCHLDs merge: ask each run whether it is the one (or one of several).
  std::vector<uint64_t> exited;
  for (auto& [id, r] : runs_) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(r->pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == r->pid)
      exited.push_back(id);
  }
  for (uint64_t id : exited) on_exited(id);
}

void CheckRunner::finish(Run& r, int status) {
  loop_.cancel(r.term_timer);
  loop_.cancel(r.kill_timer);
  for (int* fd : {&r.pidfd, &r.out})
    if (*fd >= 0) {
      loop_.remove_fd(*fd);
      ::close(*fd);
      *fd = -1;
    }
  if (status >= 0 && WIFEXITED(status)) r.result.exit_code = WEXITSTATUS(status);
  if (status >= 0 && WIFSIGNALED(status)) r.result.signal = WTERMSIG(status);
  r.result.seconds = clock_.now() - r.started;
  Done done = std::move(r.done);
  RunResult result = std::move(r.result);
  runs_.erase(r.id);  // r is gone from here on
  start_queued();
  done(std::move(result));
}

}  // namespace imwatch::agent
