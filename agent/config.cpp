#include "agent/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <set>
#include <variant>

#include "agent/command_line.h"
#include "agent/jid.h"
#include "agent/text_util.h"

namespace po = boost::program_options;

namespace imwatch::agent {

std::optional<MinSeverity> parse_min_severity(std::string_view w) {
  if (w == "all") return MinSeverity::all;
  if (w == "warning") return MinSeverity::warning;
  if (w == "critical") return MinSeverity::critical;
  if (w == "none") return MinSeverity::none;
  return std::nullopt;
}

std::string_view min_severity_word(MinSeverity m) {
  switch (m) {
    case MinSeverity::warning: return "warning";
    case MinSeverity::critical: return "critical";
    case MinSeverity::none: return "none";
    default: return "all";
  }
}

std::string Origin::str() const { return line > 0 ? file + ":" + std::to_string(line) : file; }

std::optional<double> parse_duration(const std::string& text) {
  if (text == "0") return 0.0;
  size_t unit_at = text.find_first_not_of("0123456789.");
  if (unit_at == 0 || unit_at == std::string::npos) return std::nullopt;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + unit_at, v, std::chars_format::fixed);
  if (ec != std::errc() || ptr != text.data() + unit_at || !std::isfinite(v) || v < 0) return std::nullopt;
  std::string unit = text.substr(unit_at);
  double scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : -1;
  if (unit != "ms" && scale < 0) return std::nullopt;
  // Finite after scaling too (a long run of nines is finite until times a
  // day), and no more than ten years: nothing an admin means is longer.
  // Milliseconds divide: 51 / 1000 is the double nearest 0.051; 51 * 0.001 is not.
  double seconds = unit == "ms" ? v / 1000 : v * scale;
  if (!std::isfinite(seconds) || seconds > kMaxDuration) return std::nullopt;
  return seconds;
}

std::string format_duration(double s) {
  if (s == 0) return "0";
  if (!std::isfinite(s) || s < 0 || s > kMaxDuration) return "?";
  // Whatever this writes, parse_duration reads back to the same double: the
  // canonical form of a rule (its identity across reloads) depends on it.
  struct U {
    double secs;
    const char* name;
  };
  for (U u : {U{86400, "d"}, U{3600, "h"}, U{60, "m"}, U{1, "s"}}) {
    double n = s / u.secs;
    if (n >= 1 && n == std::floor(n) && n * u.secs == s) return std::to_string(static_cast<long long>(n)) + u.name;
  }
  double ms = round_half_away(s * 1000);
  if (ms >= 1 && ms / 1000 == s) return std::to_string(static_cast<long long>(ms)) + "ms";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, s, std::chars_format::fixed);  // shortest exact
  return ec == std::errc() ? std::string(buf, end) + "s" : "?";
}

double Config::interval_of(const std::string& probe) const {
  auto it = probe_interval.find(probe);
  return it != probe_interval.end() ? it->second : default_interval(probe);
}

namespace {

struct Entry {
  std::string key, value;
  Origin origin;
};

bool repeatable(const Option& o) {
  return o.check == Check::rule_list || o.check == Check::jid_list || o.check == Check::window_list;
}

// The Boost descriptions the table makes: the modes and the options of both
// places for the command line; those of both and the file-only ones (one
// probe.NAME.interval per probe) for the file.
struct Descriptions {
  po::options_description modes{"Modes"};
  po::options_description common{"Options (also in the config file)"};
  po::options_description file_only{"Config file only"};
  po::options_description cmdline, in_file;
  std::vector<std::string> names;     // every file key, for "did you mean"
  std::set<std::string> short_names;  // and its name within its section
  std::vector<std::string> short_list;

  explicit Descriptions(const std::vector<std::string>& probe_names) {
    for (const Option& o : kOptions) {
      if (is_check_key(o.key)) continue;  // [check.NAME] is read apart: its names are the admin's
      if (o.key != kProbeIntervalKey) {
        add(o.where == Where::command_line ? modes : o.where == Where::both ? common : file_only, o, o.key);
        continue;
      }
      for (const auto& p : probe_names) add(file_only, o, "probe." + p + ".interval");
    }
    cmdline.add(modes).add(common);
    in_file.add(common).add(file_only);
    for (const auto& d : in_file.options()) {
      names.push_back(d->long_name());
      short_names.insert(split_file_key(d->long_name()).name);
    }
    short_list.assign(short_names.begin(), short_names.end());
  }

  static void add(po::options_description& to, const Option& o, std::string_view key) {
    std::string name(key);
    if (o.short_name) name += std::string(",") + o.short_name;
    std::string help(o.help);
    if (std::string d = default_string(o); !d.empty()) help += " (default " + d + ")";
    if (o.check == Check::flag)
      to.add_options()(name.c_str(), help.c_str());
    else if (repeatable(o))
      to.add_options()(name.c_str(), po::value<std::vector<std::string>>()->value_name(std::string(o.value_name)),
                       help.c_str());
    else
      to.add_options()(name.c_str(), po::value<std::string>()->value_name(std::string(o.value_name)), help.c_str());
  }

  // Only text that names an option is ever quoted from a line that failed
  // to parse, since anything else could be a password in the wrong place:
  // the key of a line with '=' when it is an option's name (within a
  // section) or a typo of one, for "did you mean"; the start of a line
  // without '=' only when it is exactly an option's name.
  bool near_an_option_name(const std::string& key) const { return !nearest(key, short_list, 1).empty(); }
  bool is_option_name(std::string_view word) const {
    return short_names.count(std::string(word)) > 0 || std::find(names.begin(), names.end(), word) != names.end();
  }
};

bool is_key_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

// "expected 'key = value'": the line is shown only as far as it names an
// option ("password:" of "password: Hunter2"), never its rest.
std::string malformed_line(const Descriptions& d, std::string_view t) {
  size_t n = 0;
  while (n < t.size() && n < 64 && is_key_char(t[n])) ++n;
  std::string msg = "expected 'key = value' or '[section]'";
  if (!d.is_option_name(t.substr(0, n))) return msg + " (the line is not shown: it may hold a secret)";
  if (n < t.size() && std::ispunct(static_cast<unsigned char>(t[n]))) ++n;
  return msg + ", got a line starting " + quote(t.substr(0, n)) + " (rest not shown)";
}

// The entry of a file key, or nullptr. find_nothrow still throws for an
// ambiguous name; nothing from the file may escape as an exception.
const po::option_description* find_known(const po::options_description& known, const std::string& key) {
  try {
    return known.find_nothrow(key, false);
  } catch (const po::error&) {
    return nullptr;
  }
}

// [check.NAME]: NAME as a rule's name, but without '.', so that the metrics
// check.NAME.LABEL of its perfdata say where NAME ends.
bool valid_check_name(std::string_view n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

// The keys of a [check.NAME] section: "command", "interval", ...
std::vector<std::string> check_keys() {
  std::vector<std::string> keys;
  for (const Option& o : kOptions)
    if (is_check_key(o.key)) keys.emplace_back(o.key.substr(kCheckPrefix.size()));
  return keys;
}

// A `key = value` line of a [check.NAME] section.
void read_check_assignment(const std::string& section, const std::string& key, const std::string& value,
                           const Origin& at, std::map<std::string, int>& seen, std::vector<Entry>& out,
                           std::vector<std::string>& errors) {
  const auto keys = check_keys();
  if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
    std::string msg = at.str() + ": unknown option in [" + section + "]";
    if (auto near = nearest(key, keys, 2); !near.empty()) msg += " (did you mean " + join_quoted(near) + "?)";
    else msg += " (expected " + join_quoted(keys) + ")";
    return errors.push_back(msg);
  }
  const std::string full = section + "." + key;
  if (auto [it, fresh] = seen.emplace(full, at.line); !fresh)
    return errors.push_back(at.str() + ": " + quote(full) + " is already set on line " + std::to_string(it->second));
  out.push_back({full, value, at});
}

// One `key = value` line (t is trimmed, has an '='), or an error.
void read_assignment(const Descriptions& d, const std::string& section, const std::string& t, const Origin& at,
                     std::map<std::string, int>& seen, std::vector<Entry>& out, std::vector<std::string>& errors) {
  size_t eq = t.find('=');
  std::string key = trim(t.substr(0, eq));
  if (key.empty()) return errors.push_back(at.str() + ": missing key before '='");
  if (section.starts_with("check."))
    return read_check_assignment(section, key, trim(t.substr(eq + 1)), at, seen, out, errors);
  std::string full = section.empty() ? key : section + "." + key;
  if (!find_known(d.in_file, full)) {
    if (!d.near_an_option_name(key))
      return errors.push_back(at.str() + ": unknown option (not shown: it is like no option's name)");
    std::string msg = at.str() + ": unknown option " + quote(full);
    if (auto near = nearest(full, d.names, 3); !near.empty()) msg += " (did you mean " + join_quoted(near) + "?)";
    return errors.push_back(msg);
  }
  const Option* o = find_option(full);
  if (!o || !repeatable(*o)) {
    if (auto [it, fresh] = seen.emplace(full, at.line); !fresh)
      return errors.push_back(at.str() + ": " + quote(full) + " is already set on line " + std::to_string(it->second));
  }
  out.push_back({full, trim(t.substr(eq + 1)), at});
}

// The section a header opens. [check.NAME] is marked by an entry of its own
// ("check.NAME", no value), where the check's errors point; a bad NAME is an
// error here, and the lines of its section are skipped.
constexpr std::string_view kBadCheck = "\x01" "bad check";
std::string open_section(std::string name, const Origin& at, std::map<std::string, int>& seen,
                         std::vector<Entry>& out, std::vector<std::string>& errors) {
  if (!name.starts_with("check.")) return name;
  if (!valid_check_name(std::string_view(name).substr(6))) {
    errors.push_back(at.str() + ": bad check name " + quote(name.substr(6)) +
                     " (letters, digits, '_' and '-'; at most 64)");
    return std::string(kBadCheck);
  }
  if (auto [it, fresh] = seen.emplace(name, at.line); !fresh) {
    errors.push_back(at.str() + ": [" + name + "] is already defined on line " + std::to_string(it->second));
    return std::string(kBadCheck);
  }
  out.push_back({name, "", at});
  return name;
}

// Reads the INI file: `key = value` lines, `[section]` headers, full-line
// comments starting with '#' or ';'. No inline comments: a password may
// contain '#'.
bool read_ini(const std::string& path, const Descriptions& d, std::vector<Entry>& out,
              std::vector<std::string>& errors) {
  std::ifstream in(path);
  if (!in) {
    errors.push_back(path + ": cannot read: " + std::strerror(errno));
    return false;
  }
  std::string line, section;
  std::map<std::string, int> seen;
  for (int n = 1; std::getline(in, line); ++n) {
    Origin at{path, n};
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t[0] == '[' && (t.back() != ']' || t.size() < 3))
      errors.push_back(at.str() + ": bad section header (expected '[name]'; the line is not shown)");
    else if (t[0] == '[')
      section = open_section(trim(t.substr(1, t.size() - 2)), at, seen, out, errors);
    else if (section == kBadCheck)
      continue;  // its header was the error
    else if (t.find('=') == std::string::npos)
      errors.push_back(at.str() + ": " + malformed_line(d, t));
    else
      read_assignment(d, section, t, at, seen, out, errors);
  }
  return true;
}

// Everything parse_config carries from one step to the next.
struct Parse {
  Parse(const std::vector<std::string>& names, Config& c, std::vector<std::string>& e)
      : probe_names(names), cfg(c), errors(e) {}
  const std::vector<std::string>& probe_names;
  Config& cfg;
  std::vector<std::string>& errors;
  Descriptions desc{probe_names};
  po::variables_map vm;
  std::map<std::string, std::vector<Origin>> origins;  // of what the file set
  std::vector<Entry> check_entries;                    // [check.NAME] lines, in file order

  // Where a value came from: "file:line", "--key", or the file for a default.
  std::string where(const std::string& key) const {
    if (auto it = origins.find(key); it != origins.end() && !it->second.empty()) return it->second.front().str();
    const Option* o = find_option(key);
    return o && o->where == Where::file ? cfg.config_file : "--" + key;
  }
  const std::string* given(const std::string& key) const {
    return vm.count(key) ? &vm[key].as<std::string>() : nullptr;
  }
  void error(const std::string& key, const std::string& what) { errors.push_back(where(key) + ": " + what); }
};

// The command line; the help and the version. A result ends the parse.
std::optional<ParseResult> parse_command_line(int argc, const char* const argv[], Parse& p, std::ostream& os) {
  try {
    // The words after the options are a command for the running agent.
    po::options_description all;
    all.add(p.desc.cmdline).add_options()("command", po::value<std::vector<std::string>>());
    po::positional_options_description words;
    words.add("command", -1);
    po::store(po::command_line_parser(argc, argv).options(all).positional(words).run(), p.vm);
  } catch (const po::error& e) {
    p.errors.push_back(std::string("imwatch: ") + e.what() + " (see --help)");
    return ParseResult::exit_usage;
  }
  if (p.vm.count("help")) {
    os << "Usage: imwatch [--config FILE] [OPTIONS]\n"
          "       imwatch [OPTIONS] COMMAND [ARGS]   (status, alerts, mute 2h iowait, help...)\n"
          "Watches the kernel's load, memory and vmstat counters and tells admins over XMPP.\n"
          "A COMMAND is sent to the running agent, which answers as it does in chat.\n\n"
       << p.desc.modes << "\n"
       << p.desc.common << "\n";
    print_file_options(os);
    os << "\nSignals: SIGTERM and SIGINT stop the agent; SIGHUP reloads the config.\n"
          "See imwatch(8) and imwatch.conf(5).\n";
    return ParseResult::exit_ok;
  }
  if (p.vm.count("version")) {
    os << "imwatch " << IMWATCH_VERSION << "\n";
    return ParseResult::exit_ok;
  }
  return std::nullopt;
}

// "trace, debug, info, warn or error"
std::string choice_list(std::string_view choices) {
  std::vector<std::string> words = split_words(choices);
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) out += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return out;
}

bool is_choice(const Option& o, const std::string& v) {
  auto words = split_words(o.choices);
  return std::find(words.begin(), words.end(), v) != words.end();
}

// --once, --check-config, --test-alert, --dry-run, --format. A result ends the parse.
std::optional<ParseResult> read_modes(Parse& p) {
  Config& cfg = p.cfg;
  cfg.once = p.vm.count("once");
  cfg.check_config = p.vm.count("check-config");
  cfg.test_alert = p.vm.count("test-alert");
  cfg.dry_run = p.vm.count("dry-run");
  if (p.vm.count("command")) cfg.command = p.vm["command"].as<std::vector<std::string>>();
  if (!cfg.command.empty() && cfg.once + cfg.check_config + cfg.test_alert > 0) {
    p.errors.push_back("imwatch: a command (" + quote(cfg.command.front()) +
                       ") goes to the running agent; it excludes --once, --check-config and --test-alert");
    return ParseResult::exit_usage;
  }
  if (cfg.once + cfg.check_config + cfg.test_alert > 1) {
    p.errors.push_back("imwatch: --once, --check-config and --test-alert exclude each other");
    return ParseResult::exit_usage;
  }
  if (const std::string* f = p.given("format")) {
    cfg.format = *f;
    if (!is_choice(option("format"), cfg.format)) {
      p.errors.push_back("imwatch: --format: expected " + choice_list(option("format").choices) + ", got " +
                         quote(cfg.format));
      return ParseResult::exit_usage;
    }
    if (!cfg.once) {
      p.errors.push_back("imwatch: --format only applies to --once");
      return ParseResult::exit_usage;
    }
  }
  return std::nullopt;
}

// The config file, the one named or the default one if it exists, stored
// after the command line: store() keeps the first value it sees, so the
// command line wins.
bool read_config_file(Parse& p) {
  Config& cfg = p.cfg;
  bool explicit_config = p.vm.count("config");
  if (explicit_config) cfg.config_file = p.vm["config"].as<std::string>();
  std::vector<Entry> entries;
  bool exists = explicit_config || ::access(cfg.config_file.c_str(), F_OK) == 0;
  // `imwatch --once` is also run by users who may not read the 0640 default
  // config; it needs nothing from it that it cannot do without.
  // Nor does a local command, which needs only control-socket from it.
  bool optional =
      !explicit_config && (cfg.once || !cfg.command.empty()) && ::access(cfg.config_file.c_str(), R_OK) != 0;
  if (exists && !optional) {
    size_t before = p.errors.size();
    cfg.config_read = read_ini(cfg.config_file, p.desc, entries, p.errors);
    if (p.errors.size() > before) return false;
  }
  po::parsed_options parsed(&p.desc.in_file);
  for (const auto& e : entries) {
    if (e.key.starts_with("check.")) {
      p.check_entries.push_back(e);
      continue;
    }
    parsed.options.emplace_back(e.key, std::vector<std::string>{e.value});
    p.origins[e.key].push_back(e.origin);
  }
  try {
    po::store(parsed, p.vm);
    po::notify(p.vm);
  } catch (const po::error& e) {
    p.errors.push_back(cfg.config_file + ": " + e.what());
    return false;
  }
  return true;
}

// "sha256:" and the canonical base64 of exactly 32 bytes: 43 characters of
// the alphabet, the last with its two unused bits 0, and one '='.
bool valid_pin(std::string_view pin) {
  constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (!pin.starts_with("sha256:")) return false;
  std::string_view b64 = pin.substr(7);
  if (b64.size() != 44 || b64[43] != '=') return false;
  for (size_t i = 0; i < 43; ++i) {
    size_t v = kAlphabet.find(b64[i]);
    if (v == std::string_view::npos || (i == 42 && (v & 3) != 0)) return false;
  }
  return true;
}

using Destination =
    std::variant<std::monostate, std::string*, double*, int*, size_t*, std::vector<Located<std::string>>*>;

// Where the value of each option of the file goes in Config. Every option
// of the table that is not a mode has its line here; password_file is read
// by check_password().
Destination destination(Config& c, std::string_view key) {
  XmppConfig& x = c.xmpp;
  const std::pair<std::string_view, Destination> map[] = {
      {"proc-root", &c.proc_root},
      {"state-dir", &c.state_dir},
      {"log-level", &c.log_level},
      {"hostname", &c.hostname},
      {"control-socket", &c.control_socket},
      {"control-group", &c.control_group},
      {"probe.filesystem.include_types", &c.fs_include_types},
      {"probe.filesystem.exclude_mounts", &c.fs_exclude_mounts},
      {"alert.rule", &c.rules},
      {"alert.maintenance", &c.maintenance},
      {"alert.repeat", &c.repeat},
      {"alert.flap_changes", &c.flap_changes},
      {"alert.flap_window", &c.flap_window},
      {"xmpp.jid", &x.jid},
      {"xmpp.password", &x.password},
      {"xmpp.host", &x.host},
      {"xmpp.port", &x.port},
      {"xmpp.resource", &x.resource},
      {"xmpp.admin", &x.admins},
      {"xmpp.room", &x.room},
      {"xmpp.room_nick", &x.room_nick},
      {"xmpp.room_password", &x.room_password},
      {"xmpp.ca_file", &x.ca_file},
      {"xmpp.pin", &x.pin},
      {"xmpp.ping_interval", &x.ping_interval},
      {"xmpp.outbox_max", &x.outbox_max},
  };
  for (const auto& [k, d] : map)
    if (k == key) return d;
  return std::monostate{};
}

// "" and `dest` set, or what is wrong with the duration `v`.
std::string read_duration(const Option& o, const std::string& v, double& dest) {
  auto d = parse_duration(v);
  if (!d) return "bad duration " + quote(v) + " (use e.g. 30s, 5m, 2h, 1d)";
  if (*d < o.min && !(o.zero_off && *d == 0)) return quote(v) + " is below the minimum " + format_duration(o.min);
  dest = *d;
  return {};
}

void check_duration(Parse& p, const Option& o, const std::string& key, const std::string& v, double& dest) {
  if (auto err = read_duration(o, v, dest); !err.empty()) p.error(key, key + ": " + err);
}

template <class Int>
void check_integer(Parse& p, const Option& o, const std::string& key, const std::string& v, Int& dest) {
  long n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || ptr != v.data() + v.size() || static_cast<double>(n) < o.min ||
      static_cast<double>(n) > o.max)
    p.error(key, key + ": expected a whole number from " + std::to_string(static_cast<long>(o.min)) + " to " +
                     std::to_string(static_cast<long>(o.max)) + ", got " + quote(v));
  else
    dest = static_cast<Int>(n);
}

std::string jid_example(const std::string& key) {
  return key == "xmpp.jid" ? "agent@example.org" : key == "xmpp.room" ? "ops@conference.example.org" : "admin@example.org";
}

// "JID [SEVERITY]": the JID prepped and the severity, or an error (without
// the value: a JID is no secret, but the line is quoted as the other checks do).
struct DestinationValue {
  std::string jid;
  MinSeverity min = MinSeverity::all;
  std::string error;
};
DestinationValue parse_destination(const std::string& key, const std::string& v) {
  DestinationValue out;
  std::vector<std::string> words = split_words(v);
  // "a b@c" is a JID with a space, not a JID and a severity.
  if (words.empty() || words.size() > 2 || (words.size() == 2 && words[1].find('@') != std::string::npos)) {
    if (words.size() == 2) {
      out.error = key + ": expected a bare JID like " + jid_example(key) + ", got " + quote(v);
      return out;
    }
    out.error = key + ": expected a bare JID like " + jid_example(key) + " and at most a severity, got " + quote(v);
    return out;
  }
  if (words.size() == 2) {
    auto m = parse_min_severity(words[1]);
    if (!m) {
      out.error = key + ": expected a severity (warning, critical or none) after the JID, got " + quote(words[1]);
      return out;
    }
    out.min = *m;
  }
  if (auto prepped = prep_bare_jid(words[0]))
    out.jid = *prepped;
  else
    out.error = key + ": expected a bare JID like " + jid_example(key) + ", got " + quote(words[0]);
  return out;
}

// A single-valued option, checked as the table says, into `dest`.
void check_value(Parse& p, const Option& o, const std::string& key, const std::string& v, Destination dest) {
  auto* str = std::get_if<std::string*>(&dest);
  switch (o.check) {
    case Check::duration: return check_duration(p, o, key, v, *std::get<double*>(dest));
    case Check::integer:
      if (auto* i = std::get_if<int*>(&dest)) return check_integer(p, o, key, v, **i);
      return check_integer(p, o, key, v, *std::get<size_t*>(dest));
    case Check::choice:
      if (!is_choice(o, v)) return p.error(key, key + ": expected " + choice_list(o.choices) + ", got " + quote(v));
      break;
    case Check::pin:
      if (!valid_pin(v))
        return p.error(key, key + ": expected sha256: and the base64 of 32 bytes (44 characters), got " + quote(v));
      break;
    case Check::destination: {
      DestinationValue d = parse_destination(key, v);
      if (!d.error.empty()) return p.error(key, d.error);
      p.cfg.xmpp.room_min = d.min;  // the only destination option: xmpp.room
      return void(**str = d.jid);
    }
    case Check::jid:
      if (auto prepped = prep_bare_jid(v)) return void(**str = *prepped);
      return p.error(key, key + ": expected a bare JID like " + jid_example(key) + ", got " + quote(v));
    default: break;
  }
  if (str) **str = v;
}

// A repeatable option: every line with its origin; JIDs prepped.
void check_list(Parse& p, const Option& o, const std::string& key, std::vector<Located<std::string>>& dest) {
  const auto& values = p.vm[key].as<std::vector<std::string>>();
  const auto& from = p.origins[key];
  for (size_t i = 0; i < values.size(); ++i) {
    Located<std::string> item{values[i], i < from.size() ? from[i] : Origin{p.where(key)}};
    if (o.check == Check::jid_list) {
      DestinationValue d = parse_destination(key, item.value);
      if (!d.error.empty()) {
        p.errors.push_back(item.origin.str() + ": " + d.error);
        continue;
      }
      item.value = d.jid;
      if (d.min != MinSeverity::all) p.cfg.xmpp.admin_min[d.jid] = d.min;
    }
    dest.push_back(std::move(item));
  }
}

// Every option of the table that was given, into Config.
void apply_options(Parse& p) {
  for (const Option& o : kOptions) {
    if (o.where == Where::command_line || o.key == kProbeIntervalKey || is_check_key(o.key)) continue;
    const std::string key(o.key);
    if (!p.vm.count(key)) continue;
    Destination dest = destination(p.cfg, key);
    if (auto* list = std::get_if<std::vector<Located<std::string>>*>(&dest))
      check_list(p, o, key, **list);
    else if (!std::holds_alternative<std::monostate>(dest))
      check_value(p, o, key, p.vm[key].as<std::string>(), dest);
  }
}

// [probe.NAME] interval, for every probe, given or not.
void apply_probe_intervals(Parse& p) {
  const Option& interval = option(kProbeIntervalKey);
  for (const auto& name : p.probe_names) {
    double& d = p.cfg.probe_interval[name] = default_interval(name);
    const std::string key = "probe." + name + ".interval";
    if (const std::string* v = p.given(key)) check_duration(p, interval, key, *v, d);
  }
}

// One line of a [check.NAME] section into its check.
void apply_check_entry(Parse& p, const Entry& e, CheckConfig& c) {
  const std::string key = e.key.substr(e.key.rfind('.') + 1);
  const Option& o = *find_option(e.key);
  auto error = [&](const std::string& what) { p.errors.push_back(e.origin.str() + ": " + e.key + ": " + what); };
  auto duration = [&](double& dest) {
    if (auto err = read_duration(o, e.value, dest); !err.empty()) error(err);
  };
  if (key == "command") {
    c.command = e.value;
    if (auto err = split_command_line(e.value, c.argv); !err.empty()) return error(err);
    if (c.argv.empty()) return error("empty");
    if (!c.argv[0].starts_with("/"))
      error(quote(c.argv[0]) + " is not an absolute path (plugins run without a shell and without a PATH search)");
  } else if (key == "interval") {
    duration(c.interval);
  } else if (key == "timeout") {
    duration(c.timeout);
  } else if (key == "for") {
    duration(c.for_s);
  } else if (key == "repeat") {
    double r = 0;
    duration(r);
    c.repeat = r;
  }
}

// [check.NAME] sections, in file order; each needs a command.
void apply_checks(Parse& p) {
  for (const auto& e : p.check_entries) {
    if (std::count(e.key.begin(), e.key.end(), '.') == 1) {  // the header
      CheckConfig c;
      c.name = e.key.substr(6);
      c.origin = e.origin;
      p.cfg.checks.push_back(std::move(c));
      continue;
    }
    if (!p.cfg.checks.empty()) apply_check_entry(p, e, p.cfg.checks.back());
  }
  for (const auto& c : p.cfg.checks)
    if (c.command.empty())
      p.errors.push_back(c.origin.str() + ": [check." + c.name + "] has no command");
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
  return "localhost";
}

// "mode 0644" of a file others can read, or "" (also when it cannot be stat'ed).
std::string readable_by_others(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !(st.st_mode & S_IROTH)) return "";
  char mode[16];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return std::string("mode ") + mode;
}

// The first line of a password file, without the CR, spaces and tabs an
// editor or another OS leaves at its end (they would fail the login with no
// hint): a note says so, never showing the password.
bool read_password_file(Parse& p, const std::string& path, const std::string& where) {
  std::ifstream in(path);
  std::string pw;
  if (!in || !std::getline(in, pw)) return false;
  size_t end = pw.find_last_not_of(" \t\r\n\v\f");
  if (end + 1 != pw.size()) {
    pw.erase(end == std::string::npos ? 0 : end + 1);
    if (!pw.empty())
      p.cfg.warnings.push_back(
          where + ": note: trailing whitespace (a CR, space or tab) removed from the password in " + quote(path));
  }
  p.cfg.xmpp.password = std::move(pw);
  if (auto mode = readable_by_others(path); !mode.empty())
    p.cfg.warnings.push_back(where + ": warning: the password file " + quote(path) + " is readable by others (" + mode +
                             "): chmod o-r it");
  return !p.cfg.xmpp.password.empty();
}

// The password: from the config, a file, or systemd's LoadCredential=.
void check_password(Parse& p) {
  XmppConfig& x = p.cfg.xmpp;
  bool inline_pw = p.vm.count("xmpp.password");
  const std::string* pw_file_given = p.given("xmpp.password_file");
  std::string pw_file = pw_file_given ? *pw_file_given : "";
  if (inline_pw && !pw_file.empty()) p.error("xmpp.password_file", "set xmpp.password or xmpp.password_file, not both");
  if (inline_pw) {
    x.password_origin = p.origins["xmpp.password"].front();
    if (auto mode = readable_by_others(p.cfg.config_file); !mode.empty())
      p.cfg.warnings.push_back(x.password_origin.str() + ": warning: xmpp.password is in a file others can read (" +
                               mode + "): chmod o-r " + p.cfg.config_file + ", or use password_file");
    return;
  }
  const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
  std::string path = !pw_file.empty() ? pw_file : creds ? std::string(creds) + "/xmpp-password" : "";
  if (path.empty())
    return p.error("xmpp.jid",
                   "xmpp: no password (set xmpp.password, xmpp.password_file, "
                   "or LoadCredential=xmpp-password in the systemd unit)");
  if (!pw_file.empty() && creds && pw_file.find('/') == std::string::npos)
    path = std::string(creds) + "/" + pw_file;  // a credential's name
  std::string where = pw_file.empty() ? path : p.where("xmpp.password_file");
  if (!read_password_file(p, path, where)) p.errors.push_back(where + ": cannot read the password from " + quote(path));
  x.password_origin = {path, 0};
}

// The room's nick (the host name unless given) and password (inline or
// from a file, never both, never shown).
void check_room(Parse& p) {
  XmppConfig& x = p.cfg.xmpp;
  if (x.room_nick.empty()) x.room_nick = p.cfg.hostname;
  bool control = std::any_of(x.room_nick.begin(), x.room_nick.end(),
                             [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (p.given("xmpp.room_nick") && (control || x.room_nick.size() > 64))
    p.error("xmpp.room_nick", "xmpp.room_nick: at most 64 bytes and no control characters");
  const std::string* file = p.given("xmpp.room_password_file");
  if (!file) return;
  if (p.vm.count("xmpp.room_password"))
    return p.error("xmpp.room_password_file", "set xmpp.room_password or xmpp.room_password_file, not both");
  std::ifstream in(*file);
  std::string pw;
  if (!in || !std::getline(in, pw))
    return p.error("xmpp.room_password_file", "cannot read the room password from " + quote(*file));
  size_t end = pw.find_last_not_of(" \t\r\n\v\f");
  pw.erase(end == std::string::npos ? 0 : end + 1);
  x.room_password = std::move(pw);
}

// What the XMPP side will need at run time, checked now: admins, not the
// agent itself among them, the CA file, the password.
void check_xmpp(Parse& p) {
  XmppConfig& x = p.cfg.xmpp;
  if (x.jid.empty() && !p.vm.count("xmpp.jid")) {
    if (!x.admins.empty())
      p.errors.push_back(x.admins.front().origin.str() + ": xmpp.admin is set but xmpp.jid is not");
    if (!x.room.empty()) p.error("xmpp.room", "xmpp.room is set but xmpp.jid is not");
    return;
  }
  check_room(p);
  if (x.admins.empty() && !p.vm.count("xmpp.admin"))
    p.error("xmpp.jid", "xmpp: no 'admin =' line: nobody would get the alerts");
  for (const auto& a : x.admins)
    if (a.value == x.jid)
      p.errors.push_back(a.origin.str() + ": xmpp.admin: " + quote(a.value) +
                         " is the agent's own account (it would chat with itself)");
  // With a pin the CA list plays no part, and the transport does not load it.
  if (x.pin.empty()) {
    std::ifstream ca(x.ca_file);
    if (!ca) p.error("xmpp.ca_file", "xmpp.ca_file: cannot read " + quote(x.ca_file) + ": " + std::strerror(errno));
  }
  check_password(p);
}

}  // namespace

ParseResult parse_config(int argc, const char* const argv[], const std::vector<std::string>& probe_names, Config& cfg,
                         std::vector<std::string>& errors, std::ostream& os) {
  Parse p(probe_names, cfg, errors);
  if (auto r = parse_command_line(argc, argv, p, os)) return *r;
  if (auto r = read_modes(p)) return *r;
  if (!read_config_file(p)) return ParseResult::exit_usage;
  apply_options(p);
  apply_probe_intervals(p);
  apply_checks(p);
  if (cfg.hostname.empty()) cfg.hostname = host_name();
  // A local command does not log in: the password may be root's alone.
  if (cfg.command.empty()) check_xmpp(p);
  return errors.empty() ? ParseResult::run : ParseResult::exit_usage;
}

}  // namespace imwatch::agent
