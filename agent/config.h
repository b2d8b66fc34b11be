// Command line and configuration file.
//
// Boost.Program_options holds the options; the INI file is read by our own
// small reader so that every mistake can be reported as `file:line: message`
// (Boost's parse_config_file knows no line numbers). Every option can be set
// in the file; the command line wins.
#pragma once

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

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

struct XmppConfig {
  std::string jid;
  std::string password;  // never logged
  Origin password_origin;
  std::string host;      // empty: DNS SRV of the JID's domain
  int port = 0;          // 0: 5222 or what SRV says
  std::string resource;  // empty: derived from the machine ID (see xmpp_transport.cpp)
  std::vector<Located<std::string>> admins;
  std::string ca_file = "/etc/ssl/certs/ca-certificates.crt";
  std::string pin;  // "sha256:BASE64" of the server's public key, or empty
  double ping_interval = 60;
  size_t outbox_max = 1000;
  bool configured() const { return !jid.empty(); }
};

struct Config {
  // Modes.
  bool once = false, check_config = false, test_alert = false, dry_run = false;
  std::string format = "text";

  std::string config_file = "/etc/imwatch/imwatch.conf";
  bool config_read = false;
  std::string proc_root = "/proc";
  std::string state_dir = "/var/lib/imwatch";
  std::string log_level = "info";
  std::string hostname;  // default: gethostname()

  // [probe.NAME] interval, in seconds, for every known probe.
  std::map<std::string, double> probe_interval;

  // [alert]
  std::vector<Located<std::string>> rules;
  double repeat = 3600;  // reminders while firing; 0 turns them off
  int flap_changes = 6;  // more state changes than this within flap_window
  double flap_window = 3600;

  XmppConfig xmpp;
};

enum class ParseResult { run, exit_ok, exit_usage };

// Parses argv and the config file into `out`. Help and version go to `out_stream`;
// every error goes to `errors` as one line ("file:line: message" where it
// comes from the file). `probe_names` are the probes that take an interval.
ParseResult parse_config(int argc, const char* const argv[], const std::vector<std::string>& probe_names, Config& out,
                         std::vector<std::string>& errors, std::ostream& out_stream);

// The longest duration accepted anywhere: ten years.
constexpr double kMaxDuration = 10 * 365 * 86400.0;

// "30s", "5m", "2h", "1d", "500ms", "1.5h" or "0" to seconds.
std::optional<double> parse_duration(const std::string& text);
// Seconds back to the shortest exact form above ("90s" -> "90s", "300" -> "5m").
std::string format_duration(double seconds);

}  // namespace imwatch::agent
