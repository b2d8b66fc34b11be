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
