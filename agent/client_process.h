// Who a local client is, for holds that last while it lives (`imwatch run
// --mute`, agent/alert_engine.h): its PID, and the start time that tells
// that process from a later one given the same PID.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace imwatch::agent {

// Field 22 of /proc/PID/stat, starttime (clock ticks after boot; see
// proc(5)), counted after the last ')' because field 2, the command name in
// parentheses, may hold spaces and parentheses of its own. Nothing when the
// text is not a stat line.
std::optional<uint64_t> parse_start_time(std::string_view stat);

// The start time of process `pid` from `proc_root`/PID/stat, or nothing when
// it does not exist (or cannot be read). Always the real process table in
// the daemon ("/proc"), whatever proc-root the probes read.
std::optional<uint64_t> process_start(int pid, const std::string& proc_root = "/proc");

// Whether the process a hold recorded still runs: same PID, same start.
bool process_alive(int pid, uint64_t start, const std::string& proc_root = "/proc");

}  // namespace imwatch::agent
