// Runs a program (never through a shell) and captures its output, for tests
// that exercise the real binary.
#pragma once

#include <string>
#include <vector>

namespace imwatch::test {

struct ProcessResult {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
  bool timed_out = false;
};

// Runs argv[0] with argv, waits at most `timeout_s`, then kills it.
ProcessResult run_process(const std::vector<std::string>& argv, double timeout_s = 30,
                          const std::vector<std::string>& extra_env = {});

}  // namespace imwatch::test

namespace imwatch::test {

// A program running in the background whose stderr the test reads line by
// line. Killed (SIGKILL, by its PID) when the object goes, also on failure.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const { return pid_; }
  // Waits at most `timeout_s` for a stderr line containing `needle`; returns
  // it, or "" on timeout. Lines already read are kept in lines().
  std::string wait_for_line(const std::string& needle, double timeout_s);
  // Reads whatever arrives within `seconds`.
  void drain(double seconds);
  const std::vector<std::string>& lines() const { return lines_; }
  size_t count_lines(const std::string& needle) const;
  void signal(int sig);
  // Waits for the exit; returns the status (128 + signal), or -1 on timeout.
  int wait_exit(double timeout_s);

 private:
  bool read_some(double timeout_s);
  int pid_ = -1;
  int fd_ = -1;
  int status_ = -1;
  std::string partial_;
  std::vector<std::string> lines_;
};

}  // namespace imwatch::test
