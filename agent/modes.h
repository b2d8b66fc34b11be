// What `imwatch` does in each mode; main.cpp only picks one.
#pragma once

#include <string>
#include <vector>

#include "agent/config.h"

namespace imwatch::agent {

// `imwatch --once`: one sample of every probe on stdout. 0, or 1 if a probe failed.
int run_once(const Config& cfg);
// `imwatch --check-config`: the rules as understood (0), or every error (2).
int run_check_config(const Config& cfg);
// `imwatch --test-alert`: one message to every admin; 0 once the server has
// accepted it, 1 with the reason otherwise.
int run_test_alert(const Config& cfg);
// The daemon, until SIGTERM/SIGINT. `args` is the command line, for reloads.
int run_daemon(std::vector<std::string> args, const Config& cfg);

}  // namespace imwatch::agent
