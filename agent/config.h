// Command line and configuration file.
//
// The options, their defaults and their checks are declared once, in the
// table of agent/options.h. Boost.Program_options holds the values; the INI
// file is read by our own small reader so that every mistake can be reported
// as `file:line: message` (Boost's parse_config_file knows no line numbers).
// The command line wins over the file.
#pragma once

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/options.h"

namespace imwatch::agent {

// Where a value came from, for error messages: "file:line" or "--option".
struct Origin {
  std::string file;
  int line = 0;
  std::string str() const;
};

template <class T>
struct Located {
  T value;
  Origin origin;
};

// The least severity a destination (an admin, the room) is sent: `all`
// (the default) everything, `warning` and `critical` the alerts at or above
// it and what follows from them (their resolution, a de-escalation),
// `none` nothing (an admin who may still ask).
enum class MinSeverity { all, warning, critical, none };
// "warning" -> MinSeverity::warning; nothing for an unknown word.
std::optional<MinSeverity> parse_min_severity(std::string_view word);
std::string_view min_severity_word(MinSeverity m);

struct XmppConfig {
  std::string jid;
  std::string password;  // never logged
  Origin password_origin;
  std::string host;                          // empty: DNS SRV of the JID's domain
  int port = 0;                              // 0: 5222 or what SRV says
  std::string resource;                      // empty: derived from the machine ID (see xmpp_transport.cpp)
  std::vector<Located<std::string>> admins;  // bare JIDs in stringprep form (agent/jid.h)
  std::map<std::string, MinSeverity> admin_min;  // by admin as in `admins`; absent: all
  std::string room;                              // bare JID of the fleet's room, or empty
  MinSeverity room_min = MinSeverity::all;
  std::string room_nick;      // default: the host name
  std::string room_password;  // never logged; empty: none
  // The least severity `admin` (as in `admins`) is sent.
  MinSeverity min_of(const std::string& admin) const {
    auto it = admin_min.find(admin);
    return it == admin_min.end() ? MinSeverity::all : it->second;
  }
  std::string ca_file{default_text("xmpp.ca_file")};
  std::string pin;  // "sha256:BASE64" of the server's public key, or empty
  double ping_interval = default_number("xmpp.ping_interval");
  size_t outbox_max = static_cast<size_t>(default_number("xmpp.outbox_max"));
  bool configured() const { return !jid.empty(); }
};

// [check.NAME]: a monitoring plugin run every `interval` (agent/checks.h).
struct CheckConfig {
  std::string name;
  std::string command;            // as written
  std::vector<std::string> argv;  // split by agent/command_line.h
  double interval = default_number("check.*.interval");
  double timeout = default_number("check.*.timeout");
  double for_s = 0;
  std::optional<double> repeat;  // default: [alert] repeat
  Origin origin;                 // of the section header
};

struct Config {
  // Modes.
  bool once = false, check_config = false, test_alert = false, dry_run = false;
  std::string format{default_text("format")};

  std::string config_file{default_text("config")};
  bool config_read = false;
  std::string proc_root{default_text("proc-root")};
  std::string state_dir{default_text("state-dir")};
  std::string log_level{default_text("log-level")};
  std::string hostname;  // default: gethostname()
  std::string control_socket{default_text("control-socket")};
  std::string control_group{default_text("control-group")};
  // `imwatch status`, `imwatch mute 2h iowait`: the words after the
  // options, sent to the running agent (agent/control.h). Empty: a mode.
  std::vector<std::string> command;

  // [probe.NAME] interval, in seconds, for every known probe.
  std::map<std::string, double> probe_interval;
  // The interval of `probe`: its entry above, or the default.
  double interval_of(const std::string& probe) const;

  // [probe.filesystem]: space-separated lists (probes/filesystem.h).
  std::string fs_include_types, fs_exclude_mounts;

  // [alert]
  std::vector<Located<std::string>> rules;
  std::vector<Located<std::string>> maintenance;  // windows, compiled by compile_windows() (agent/maintenance.h)
  double repeat = default_number("alert.repeat");  // reminders while firing; 0 turns them off
  int flap_changes = static_cast<int>(default_number("alert.flap_changes"));
  double flap_window = default_number("alert.flap_window");

  // [check.NAME] sections, in the order of the file.
  std::vector<CheckConfig> checks;

  XmppConfig xmpp;

  // What is not wrong but unwise (a password in a file others can read),
  // one line each: --check-config prints them, the daemon logs them.
  std::vector<std::string> warnings;
};

enum class ParseResult { run, exit_ok, exit_usage };

// Parses argv and the config file into `out`. Help and version go to `out_stream`;
// every error goes to `errors` as one line ("file:line: message" where it
// comes from the file). `probe_names` are the probes that take an interval.
// No error quotes a line that could hold a secret (a line that is no
// `key = value` shows at most the option name it starts with) nor the value
// of a secret option.
ParseResult parse_config(int argc, const char* const argv[], const std::vector<std::string>& probe_names, Config& out,
                         std::vector<std::string>& errors, std::ostream& out_stream);

// The longest duration accepted anywhere: ten years.
constexpr double kMaxDuration = 10 * 365 * 86400.0;

// "30s", "5m", "2h", "1d", "500ms", "1.5h" or "0" to seconds.
std::optional<double> parse_duration(const std::string& text);
// Seconds back to the shortest exact form above ("90s" -> "90s", "300" -> "5m").
std::string format_duration(double seconds);

}  // namespace imwatch::agent
