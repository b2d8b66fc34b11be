#include "run_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

extern char** environ;

namespace imwatch::test {

namespace {
double now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
// posix_spawn with our environment plus `extra_env`; never through a shell.
int spawn(pid_t& pid, const std::vector<std::string>& argv, const std::vector<std::string>& extra_env,
          const posix_spawn_file_actions_t& fa) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
  for (const auto& e : extra_env) env_store.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_store) env.push_back(e.data());
  env.push_back(nullptr);
  return posix_spawn(&pid, args[0], &fa, nullptr, args.data(), env.data());
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, double timeout_s,
                          const std::vector<std::string>& extra_env) {
  ProcessResult r;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return r;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  pid_t pid = -1;
  int rc = spawn(pid, argv, extra_env, fa);
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(out[0]);
    close(err[0]);
    r.err = "spawn failed";
    return r;
  }
  double deadline = now() + timeout_s;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    double left = deadline - now();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    int n = poll(fds, 2, static_cast<int>(left * 1000) + 1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0)
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(got));
      else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

}  // namespace imwatch::test

namespace imwatch::test {

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) return;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  if (spawn(pid, argv, extra_env, fa) == 0) pid_ = pid;
  posix_spawn_file_actions_destroy(&fa);
  close(err[1]);
  fd_ = err[0];
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && status_ < 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) close(fd_);
}

bool ChildProcess::read_some(double timeout_s) {
  if (fd_ < 0) return false;
  pollfd p{fd_, POLLIN, 0};
  int n = poll(&p, 1, static_cast<int>(timeout_s * 1000));
  if (n <= 0) return false;
  char buf[8192];
  ssize_t got = read(fd_, buf, sizeof buf);
  if (got <= 0) {
    close(fd_);
    fd_ = -1;
    return false;
  }
  partial_.append(buf, static_cast<size_t>(got));
  size_t nl;
  while ((nl = partial_.find('\n')) != std::string::npos) {
    lines_.push_back(partial_.substr(0, nl));
    partial_.erase(0, nl + 1);
  }
  return true;
}

std::string ChildProcess::wait_for_line(const std::string& needle, double timeout_s) {
  size_t checked = 0;
  double deadline = now() + timeout_s;
  for (;;) {
    for (; checked < lines_.size(); ++checked)
      if (lines_[checked].find(needle) != std::string::npos) return lines_[checked];
    double left = deadline - now();
    if (left <= 0) return {};
    if (!read_some(left) && fd_ < 0) return {};
  }
}

void ChildProcess::drain(double seconds) {
  double deadline = now() + seconds;
  for (double left; (left = deadline - now()) > 0;)
    if (!read_some(left) && fd_ < 0) return;
}

size_t ChildProcess::count_lines(const std::string& needle) const {
  size_t n = 0;
  for (const auto& l : lines_)
    if (l.find(needle) != std::string::npos) ++n;
  return n;
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && status_ < 0) kill(pid_, sig);
}

int ChildProcess::wait_exit(double timeout_s) {
  double deadline = now() + timeout_s;
  while (status_ < 0) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (now() >= deadline) return -1;
    read_some(0.02);
  }
  drain(0.05);
  return status_;
}

}  // namespace imwatch::test
