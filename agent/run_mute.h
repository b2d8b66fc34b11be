// `imwatch run --mute RULES [--max DURATION] -- COMMAND ARGS...`: planned
// work that pages nobody, from a cron job or a shell. The client side: asks
// the agent, over the control socket (agent/control.h), to hold RULES for
// the life of this process (`hold`, agent/commands.h), runs COMMAND (execvp:
// no shell, stdio inherited), tells the agent how it ended (`unhold exited
// 0`) and exits with the command's status (128 + N when signal N ended it).
//
// The hold is keyed on this process's PID, which the agent takes from the
// connection (SO_PEERCRED) with its start time: if `imwatch run` is killed
// before it can say so, the agent sees the process gone at its next pass
// and releases the hold; likewise after an agent restart (the hold is in
// its state file). No agent answering does not stop the work: the command
// runs anyway, unmuted, and a warning says so.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace imwatch::agent {

struct RunArgs {
  std::string rules;           // "iowait,disk" or "all"
  std::optional<double> max;   // seconds: past it, the agent alerts
  std::vector<std::string> command;
};

// Parses the words after `run`: "" or a usage message.
[[nodiscard]] std::string parse_run_args(const std::vector<std::string>& words, RunArgs& out);

// Where `run` starts among argv: the index of the word "run" followed by
// --mute, --max or --, or 0 when this is no `imwatch run`.
int find_run(int argc, const char* const argv[]);

// Runs it; returns the exit status.
int run_muted(const std::string& socket_path, const RunArgs& args);

}  // namespace imwatch::agent
