// The table of options: every option of the command line and of the config
// file, declared once with its default, its help and how it is checked (as
// node_exporter declares a flag, its default and its help in one
// expression). It drives Boost.Program_options for both the command line
// and the file, `--help`, the defaults of `Config` (agent/config.h) and the
// test that keeps packaging/imwatch.conf and the man pages in step.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace imwatch::agent {

// Where an option may be given.
enum class Where : uint8_t { command_line, file, both };

// How its value is checked (config.cpp, check_value()).
enum class Check : uint8_t {
  flag,       // command line only, no value
  text,       // any string
  choice,     // one of the words of `choices`
  path,       // a file or directory name; what it must be is checked where it is used
  secret,     // a string never echoed, in no error and no log
  duration,   // "30s", at least `min` seconds; 0 too when `zero_off` (0 turns it off)
  integer,    // a whole number from `min` to `max`
  jid,        // a bare JID, stored after stringprep (agent/jid.h)
  jid_list,   // repeatable: one bare JID per line, stored after stringprep, and an optional minimum severity
  destination,  // a bare JID (stored after stringprep) and an optional minimum severity (config.h, MinSeverity)
  rule_list,  // repeatable: one rule per line, compiled by compile_rules()
  window_list,  // repeatable: one maintenance window per line, compiled by compile_windows()
  pin,        // "sha256:" and the base64 of 32 bytes
};

struct Option {
  // The file key: "section.key", or a bare name for what may also be on the
  // command line ("proc-root", "once"). "probe.*.interval" stands for one
  // key per probe.
  std::string_view key;
  Where where;
  Check check;
  std::string_view value_name = {};  // in --help: DIR, FILE...
  // The default: text for strings, `number` for durations (in seconds) and
  // integers. Empty text and no number: no default (or one computed, as
  // the host name, which the help says).
  std::string_view text = {};
  double number = 0;
  double min = 0, max = 0;
  bool zero_off = false;
  std::string_view choices = {};  // Check::choice: the words, space-separated
  char short_name = 0;            // -c, -h
  std::string_view help = {};
};

inline constexpr std::string_view kProbeIntervalKey = "probe.*.interval";
// "check.*.KEY" stands for the key in every [check.NAME] section.
inline constexpr std::string_view kCheckPrefix = "check.*.";
inline bool is_check_key(std::string_view key) { return key.starts_with(kCheckPrefix); }

// clang-format off
inline constexpr Option kOptions[] = {
  // Modes: the command line only.
  {.key = "help", .where = Where::command_line, .check = Check::flag, .short_name = 'h',
   .help = "print this help and exit"},
  {.key = "version", .where = Where::command_line, .check = Check::flag, .help = "print the version and exit"},
  {.key = "once", .where = Where::command_line, .check = Check::flag,
   .help = "take one sample of every probe, print it and exit (1 if a probe failed)"},
  {.key = "format", .where = Where::command_line, .check = Check::choice, .value_name = "text|json", .text = "text",
   .choices = "text json", .help = "output of --once"},
  {.key = "check-config", .where = Where::command_line, .check = Check::flag,
   .help = "print the rules as understood and exit (2 on any error)"},
  {.key = "test-alert", .where = Where::command_line, .check = Check::flag,
   .help = "send a test message to every admin and exit once the server accepted it"},
  {.key = "dry-run", .where = Where::command_line, .check = Check::flag,
   .help = "write notifications to stderr instead of sending them over XMPP"},
  {.key = "config", .where = Where::command_line, .check = Check::path, .value_name = "FILE",
   .text = "/etc/imwatch/imwatch.conf", .short_name = 'c', .help = "configuration file"},

  // Both: before the first [section] of the file, or on the command line (which wins).
  {.key = "proc-root", .where = Where::both, .check = Check::path, .value_name = "DIR", .text = "/proc",
   .help = "where /proc is"},
  {.key = "state-dir", .where = Where::both, .check = Check::path, .value_name = "DIR", .text = "/var/lib/imwatch",
   .help = "where alert state and the outbox live"},
  {.key = "log-level", .where = Where::both, .check = Check::choice, .value_name = "LEVEL", .text = "info",
   .choices = "trace debug info warn error", .help = "trace, debug, info, warn or error"},
  {.key = "hostname", .where = Where::both, .check = Check::text, .value_name = "NAME",
   .help = "name used in messages (default: the host name)"},
  {.key = "control-socket", .where = Where::both, .check = Check::path, .value_name = "PATH",
   .text = "/run/imwatch/control", .help = "the Unix socket of the local imwatch COMMAND; empty turns it off"},
  {.key = "control-group", .where = Where::both, .check = Check::text, .value_name = "GROUP", .text = "imwatch",
   .help = "besides root, the group whose members may run local commands"},

  // The file only.
  {.key = kProbeIntervalKey, .where = Where::file, .check = Check::duration, .value_name = "DURATION", .number = 10,
   .min = 0.1, .help = "how often the probe samples the kernel"},
  {.key = "probe.filesystem.include_types", .where = Where::file, .check = Check::text, .value_name = "TYPES",
   .help = "filesystem types watched besides local disks, space-separated (nfs4 tmpfs fuse.sshfs)"},
  {.key = "probe.filesystem.exclude_mounts", .where = Where::file, .check = Check::text, .value_name = "PATHS",
   .help = "mount points not watched, space-separated: paths or fnmatch(3) globs (/snap/*)"},
  {.key = "alert.rule", .where = Where::file, .check = Check::rule_list, .value_name = "RULE",
   .help = "an alert rule (repeatable)"},
  {.key = "alert.maintenance", .where = Where::file, .check = Check::window_list, .value_name = "WINDOW",
   .help = "NAME: DAYS HH:MM-HH:MM [RULES]: rules held during planned work (repeatable)"},
  {.key = "alert.repeat", .where = Where::file, .check = Check::duration, .value_name = "DURATION", .number = 3600,
   .min = 1, .zero_off = true, .help = "reminder interval while a rule fires; 0 turns reminders off"},
  {.key = "alert.flap_changes", .where = Where::file, .check = Check::integer, .value_name = "N", .number = 6,
   .min = 2, .max = 1000, .help = "more state changes than this within flap_window is flapping"},
  {.key = "alert.flap_window", .where = Where::file, .check = Check::duration, .value_name = "DURATION",
   .number = 3600, .min = 60, .help = "the window flap_changes counts in"},
  {.key = "check.*.command", .where = Where::file, .check = Check::text, .value_name = "COMMAND",
   .help = "a monitoring plugin: its absolute path and arguments, split into words without a shell"},
  {.key = "check.*.interval", .where = Where::file, .check = Check::duration, .value_name = "DURATION", .number = 60,
   .min = 1, .help = "how often the check runs"},
  {.key = "check.*.timeout", .where = Where::file, .check = Check::duration, .value_name = "DURATION", .number = 10,
   .min = 0.1, .help = "past this the plugin is killed and the check is UNKNOWN"},
  {.key = "check.*.for", .where = Where::file, .check = Check::duration, .value_name = "DURATION",
   .help = "WARNING or CRITICAL must hold this long before the alert fires, OK as long before it resolves"},
  {.key = "check.*.repeat", .where = Where::file, .check = Check::duration, .value_name = "DURATION", .min = 1,
   .zero_off = true, .help = "reminder interval while the check fails (default: alert.repeat); 0 turns them off"},
  {.key = "xmpp.jid", .where = Where::file, .check = Check::jid, .value_name = "JID",
   .help = "the agent's own account, a bare JID"},
  {.key = "xmpp.password", .where = Where::file, .check = Check::secret, .value_name = "SECRET",
   .help = "its password"},
  {.key = "xmpp.password_file", .where = Where::file, .check = Check::path, .value_name = "FILE",
   .help = "a file holding the password (a credential's name under systemd)"},
  {.key = "xmpp.host", .where = Where::file, .check = Check::text, .value_name = "NAME",
   .help = "where to connect (default: DNS SRV of the JID's domain)"},
  {.key = "xmpp.port", .where = Where::file, .check = Check::integer, .value_name = "PORT", .min = 1, .max = 65535,
   .help = "the port to connect to (default: what DNS SRV says, or 5222)"},
  {.key = "xmpp.resource", .where = Where::file, .check = Check::text, .value_name = "NAME",
   .help = "the XMPP resource (default: the host name)"},
  {.key = "xmpp.admin", .where = Where::file, .check = Check::jid_list, .value_name = "JID [SEVERITY]",
   .help = "an admin, a bare JID, and the least severity sent: warning, critical or none (repeatable)"},
  {.key = "xmpp.room", .where = Where::file, .check = Check::destination, .value_name = "JID [SEVERITY]",
   .help = "the fleet's room (XEP-0045), and the least severity sent there"},
  {.key = "xmpp.room_nick", .where = Where::file, .check = Check::text, .value_name = "NICK",
   .help = "the agent's nick in the room (default: the host name)"},
  {.key = "xmpp.room_password", .where = Where::file, .check = Check::secret, .value_name = "SECRET",
   .help = "the room's password"},
  {.key = "xmpp.room_password_file", .where = Where::file, .check = Check::path, .value_name = "FILE",
   .help = "a file holding the room's password"},
  {.key = "xmpp.ca_file", .where = Where::file, .check = Check::path, .value_name = "FILE",
   .text = "/etc/ssl/certs/ca-certificates.crt", .help = "the CA bundle the server's certificate is checked against"},
  {.key = "xmpp.pin", .where = Where::file, .check = Check::pin, .value_name = "sha256:BASE64",
   .help = "the server's public key hash, instead of the CA"},
  {.key = "xmpp.ping_interval", .where = Where::file, .check = Check::duration, .value_name = "DURATION",
   .number = 60, .min = 1, .help = "XEP-0199 ping interval to notice dead links"},
  {.key = "xmpp.outbox_max", .where = Where::file, .check = Check::integer, .value_name = "N", .number = 1000,
   .min = 10, .max = 1000000, .help = "messages kept while the link is down"},
};
// clang-format on

// Probes whose default interval is not probe.*.interval's. Filesystems fill
// in hours, and statfs of every mount is the dearest sample there is.
struct ProbeIntervalDefault {
  std::string_view probe;
  double interval;
};
inline constexpr ProbeIntervalDefault kProbeIntervalDefaults[] = {{"filesystem", 60}};
constexpr double default_interval(std::string_view probe) {
  for (const auto& d : kProbeIntervalDefaults)
    if (d.probe == probe) return d.interval;
  for (const Option& o : kOptions)
    if (o.key == kProbeIntervalKey) return o.number;
  return 10;
}

// The entry of `key` (for "probe.NAME.interval": the probe.*.interval
// entry), or nullptr.
const Option* find_option(std::string_view key);

// At compile time: the entry of `key`; a key not in the table does not compile.
consteval const Option& option(std::string_view key) {
  for (const Option& o : kOptions)
    if (o.key == key) return o;
  throw "no such option";  // not a constant expression: a compile error
}
consteval double default_number(std::string_view key) { return option(key).number; }
consteval std::string_view default_text(std::string_view key) { return option(key).text; }

// The default as the config file writes it ("10s", "1000", "/proc"), or ""
// when it has none.
std::string default_string(const Option& o);

// The options of the config file, for the docs test: every key with its
// section ("" before the first one) and key within it.
struct FileKey {
  std::string section, name;
};
FileKey split_file_key(std::string_view key);

// The config-file-only options, one per line, for --help.
void print_file_options(std::ostream& os);

}  // namespace imwatch::agent
