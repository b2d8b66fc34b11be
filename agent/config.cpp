#include "agent/config.h"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>

#include "agent/text_util.h"

namespace po = boost::program_options;

namespace imwatch::agent {

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

namespace {

struct Entry {
  std::string key, value;
  Origin origin;
};

// Options that may be given more than once in the file.
bool repeatable(const std::string& key) { return key == "alert.rule" || key == "xmpp.admin"; }

// Reads the INI file: `key = value` lines, `[section]` headers, full-line
// comments starting with '#' or ';'. No inline comments: a password may
// contain '#'.
bool read_ini(const std::string& path, const po::options_description& known, std::vector<Entry>& out,
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
    if (t[0] == '[') {
      if (t.back() != ']' || t.size() < 3) {
        errors.push_back(at.str() + ": bad section header " + quote(t));
        continue;
      }
      section = trim(t.substr(1, t.size() - 2));
      continue;
    }
    size_t eq = t.find('=');
    if (eq == std::string::npos) {
      errors.push_back(at.str() + ": expected 'key = value' or '[section]', got " + quote(t));
      continue;
    }
    std::string key = trim(t.substr(0, eq));
    if (key.empty()) {
      errors.push_back(at.str() + ": missing key before '=' in " + quote(t));
      continue;
    }
    std::string full = section.empty() ? key : section + "." + key;
    // find_nothrow still throws for an ambiguous name; nothing from the
    // file may escape as an exception.
    const po::option_description* known_option = nullptr;
    try {
      known_option = known.find_nothrow(full, false);
    } catch (const po::error&) {
      known_option = nullptr;
    }
    if (!known_option) {
      std::vector<std::string> names;
      for (const auto& o : known.options()) names.push_back(o->long_name());
      std::string msg = at.str() + ": unknown option " + quote(full);
      if (auto near = nearest(full, names, 3); !near.empty()) msg += " (did you mean " + join_quoted(near) + "?)";
      errors.push_back(msg);
      continue;
    }
    if (!repeatable(full)) {
      if (auto [it, fresh] = seen.emplace(full, n); !fresh) {
        errors.push_back(at.str() + ": " + quote(full) + " is already set on line " + std::to_string(it->second));
        continue;
      }
    }
    out.push_back({full, trim(t.substr(eq + 1)), at});
  }
  return true;
}

}  // namespace

ParseResult parse_config(int argc, const char* const argv[], const std::vector<std::string>& probe_names, Config& cfg,
                         std::vector<std::string>& errors, std::ostream& os) {
  po::options_description modes("Modes");
  modes.add_options()("help,h", "print this help and exit")("version", "print the version and exit")(
      "once", "take one sample of every probe, print it and exit (1 if a probe failed)")(
      "format", po::value<std::string>()->value_name("text|json"), "output of --once (default text)")(
      "check-config", "print the rules as understood and exit (2 on any error)")(
      "test-alert", "send a test message to every admin and exit once the server accepted it")(
      "dry-run", "write notifications to stderr instead of sending them over XMPP")(
      "config,c", po::value<std::string>()->value_name("FILE"),
      "configuration file (default /etc/imwatch/imwatch.conf)");
  po::options_description common("Options (also in the config file)");
  common.add_options()("proc-root", po::value<std::string>()->value_name("DIR"), "where /proc is (default /proc)")(
      "state-dir", po::value<std::string>()->value_name("DIR"),
      "where alert state and the outbox live (default /var/lib/imwatch)")(
      "log-level", po::value<std::string>()->value_name("LEVEL"), "trace, debug, info, warn or error (default info)")(
      "hostname", po::value<std::string>()->value_name("NAME"), "name used in messages (default: the host name)");
  po::options_description file_only("Config file only");
  for (const auto& p : probe_names)
    file_only.add_options()(("probe." + p + ".interval").c_str(), po::value<std::string>(), "");
  file_only.add_options()("alert.rule", po::value<std::vector<std::string>>(), "")(
      "alert.repeat", po::value<std::string>(), "")("alert.flap_changes", po::value<std::string>(), "")(
      "alert.flap_window", po::value<std::string>(), "")("xmpp.jid", po::value<std::string>(), "")(
      "xmpp.password", po::value<std::string>(), "")("xmpp.password_file", po::value<std::string>(), "")(
      "xmpp.host", po::value<std::string>(), "")("xmpp.port", po::value<std::string>(), "")(
      "xmpp.resource", po::value<std::string>(), "")("xmpp.admin", po::value<std::vector<std::string>>(), "")(
      "xmpp.ca_file", po::value<std::string>(), "")("xmpp.pin", po::value<std::string>(), "")(
      "xmpp.ping_interval", po::value<std::string>(), "")("xmpp.outbox_max", po::value<std::string>(), "");

  po::options_description cmdline;
  cmdline.add(modes).add(common);
  po::options_description in_file;
  in_file.add(common).add(file_only);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(cmdline).run(), vm);
  } catch (const po::error& e) {
    errors.push_back(std::string("imwatch: ") + e.what() + " (see --help)");
    return ParseResult::exit_usage;
  }
  if (vm.count("help")) {
    os << "Usage: imwatch [--config FILE] [OPTIONS]\n"
          "Watches the kernel's load, memory and vmstat counters and tells admins over XMPP.\n\n"
       << modes << "\n"
       << common
       << "\nSignals: SIGTERM and SIGINT stop the agent; SIGHUP reloads the config.\n"
          "See imwatch(8) and imwatch.conf(5).\n";
    return ParseResult::exit_ok;
  }
  if (vm.count("version")) {
    os << "imwatch " << IMWATCH_VERSION << "\n";
    return ParseResult::exit_ok;
  }
  cfg.once = vm.count("once");
  cfg.check_config = vm.count("check-config");
  cfg.test_alert = vm.count("test-alert");
  cfg.dry_run = vm.count("dry-run");
  if (cfg.once + cfg.check_config + cfg.test_alert > 1) {
    errors.push_back("imwatch: --once, --check-config and --test-alert exclude each other");
    return ParseResult::exit_usage;
  }
  if (vm.count("format")) {
    cfg.format = vm["format"].as<std::string>();
    if (cfg.format != "text" && cfg.format != "json") {
      errors.push_back("imwatch: --format: expected 'text' or 'json', got " + quote(cfg.format));
      return ParseResult::exit_usage;
    }
    if (!cfg.once) {
      errors.push_back("imwatch: --format only applies to --once");
      return ParseResult::exit_usage;
    }
  }

  // The config file: the one named, or the default one if it exists.
  bool explicit_config = vm.count("config");
  if (explicit_config) cfg.config_file = vm["config"].as<std::string>();
  std::vector<Entry> entries;
  bool exists = explicit_config || ::access(cfg.config_file.c_str(), F_OK) == 0;
  // `imwatch --once` is also run by users who may not read the 0640 default
  // config; it needs nothing from it that it cannot do without.
  bool optional = !explicit_config && cfg.once && ::access(cfg.config_file.c_str(), R_OK) != 0;
  if (exists && !optional) {
    size_t before = errors.size();
    cfg.config_read = read_ini(cfg.config_file, in_file, entries, errors);
    if (errors.size() > before) return ParseResult::exit_usage;
  }

  // Everything from the file goes through Boost too, so that the command
  // line wins: store() keeps the first value it sees for an option.
  std::map<std::string, Origin> origin;
  std::map<std::string, std::vector<Origin>> origins;  // repeatable options
  {
    po::parsed_options parsed(&in_file);
    for (const auto& e : entries) {
      parsed.options.emplace_back(e.key, std::vector<std::string>{e.value});
      origin.emplace(e.key, e.origin);
      origins[e.key].push_back(e.origin);
    }
    try {
      po::store(parsed, vm);
      po::notify(vm);
    } catch (const po::error& e) {
      errors.push_back(cfg.config_file + ": " + e.what());
      return ParseResult::exit_usage;
    }
  }
  auto where = [&](const std::string& key) {
    auto it = origin.find(key);
    return it != origin.end() ? it->second.str() : "--" + key;
  };
  auto str = [&](const std::string& key, std::string& dest) {
    if (vm.count(key)) dest = vm[key].as<std::string>();
  };
  // min > 0 with allow_zero: 0 means "off" (reminders), anything else must be >= min.
  auto duration = [&](const std::string& key, double& dest, double min, bool allow_zero = false) {
    if (!vm.count(key)) return;
    const std::string& v = vm[key].as<std::string>();
    auto d = parse_duration(v);
    if (!d)
      errors.push_back(where(key) + ": " + key + ": bad duration " + quote(v) + " (use e.g. 30s, 5m, 2h, 1d)");
    else if (*d < min && !(allow_zero && *d == 0))
      errors.push_back(where(key) + ": " + key + ": " + quote(v) + " is below the minimum " + format_duration(min));
    else
      dest = *d;
  };
  auto integer = [&](const std::string& key, long min, long max, auto& dest) {
    if (!vm.count(key)) return;
    const std::string& v = vm[key].as<std::string>();
    long n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || ptr != v.data() + v.size() || n < min || n > max)
      errors.push_back(where(key) + ": " + key + ": expected a whole number from " + std::to_string(min) + " to " +
                       std::to_string(max) + ", got " + quote(v));
    else
      dest = static_cast<std::remove_reference_t<decltype(dest)>>(n);
  };

  str("proc-root", cfg.proc_root);
  str("state-dir", cfg.state_dir);
  str("log-level", cfg.log_level);
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error"};
  if (!levels.count(cfg.log_level))
    errors.push_back(where("log-level") + ": log-level: expected trace, debug, info, warn or error, got " +
                     quote(cfg.log_level));
  str("hostname", cfg.hostname);
  if (cfg.hostname.empty()) {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0) cfg.hostname = buf;
    if (cfg.hostname.empty()) cfg.hostname = "localhost";
  }

  for (const auto& p : probe_names) {
    double& d = cfg.probe_interval[p] = 10;
    duration("probe." + p + ".interval", d, 0.1);
  }

  if (vm.count("alert.rule")) {
    const auto& v = vm["alert.rule"].as<std::vector<std::string>>();
    const auto& o = origins["alert.rule"];
    for (size_t i = 0; i < v.size(); ++i) cfg.rules.push_back({v[i], i < o.size() ? o[i] : Origin{}});
  }
  duration("alert.repeat", cfg.repeat, 1, true);
  integer("alert.flap_changes", 2, 1000, cfg.flap_changes);
  duration("alert.flap_window", cfg.flap_window, 60);

  XmppConfig& x = cfg.xmpp;
  str("xmpp.jid", x.jid);
  str("xmpp.host", x.host);
  integer("xmpp.port", 1, 65535, x.port);
  str("xmpp.resource", x.resource);
  str("xmpp.ca_file", x.ca_file);
  str("xmpp.pin", x.pin);
  duration("xmpp.ping_interval", x.ping_interval, 1);
  integer("xmpp.outbox_max", 10, 1000000, x.outbox_max);
  if (vm.count("xmpp.admin")) {
    const auto& v = vm["xmpp.admin"].as<std::vector<std::string>>();
    const auto& o = origins["xmpp.admin"];
    for (size_t i = 0; i < v.size(); ++i) x.admins.push_back({v[i], i < o.size() ? o[i] : Origin{}});
  }
  if (!x.jid.empty()) {
    if (x.jid.find('@') == std::string::npos || x.jid.find('/') != std::string::npos)
      errors.push_back(where("xmpp.jid") + ": xmpp.jid: expected a bare JID like agent@example.org, got " +
                       quote(x.jid));
    for (const auto& a : x.admins)
      if (a.value.find('@') == std::string::npos || a.value.find('/') != std::string::npos)
        errors.push_back(a.origin.str() + ": xmpp.admin: expected a bare JID like admin@example.org, got " +
                         quote(a.value));
    if (x.admins.empty())
      errors.push_back(where("xmpp.jid") + ": xmpp: no 'admin =' line: nobody would get the alerts");
    if (!x.pin.empty() && (!x.pin.starts_with("sha256:") || x.pin.size() != 7 + 44))
      errors.push_back(where("xmpp.pin") + ": xmpp.pin: expected sha256: and 44 base64 characters");
    // The password: from the config, a file, or systemd's LoadCredential=.
    bool inline_pw = vm.count("xmpp.password");
    std::string pw_file;
    str("xmpp.password_file", pw_file);
    if (inline_pw && !pw_file.empty())
      errors.push_back(where("xmpp.password_file") + ": set xmpp.password or xmpp.password_file, not both");
    if (inline_pw) {
      x.password = vm["xmpp.password"].as<std::string>();
      x.password_origin = origin["xmpp.password"];
    } else {
      const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
      std::string path = !pw_file.empty() ? pw_file : creds ? std::string(creds) + "/xmpp-password" : "";
      if (path.empty()) {
        errors.push_back(where("xmpp.jid") +
                         ": xmpp: no password (set xmpp.password, xmpp.password_file, "
                         "or LoadCredential=xmpp-password in the systemd unit)");
      } else if (!pw_file.empty() && creds && pw_file.find('/') == std::string::npos) {
        path = std::string(creds) + "/" + pw_file;  // a credential's name
      }
      if (!path.empty()) {
        std::ifstream in(path);
        if (!in || !std::getline(in, x.password) || x.password.empty())
          errors.push_back((pw_file.empty() ? path : where("xmpp.password_file")) + ": cannot read the password from " +
                           quote(path));
        x.password_origin = {path, 0};
      }
    }
  } else if (!x.admins.empty()) {
    errors.push_back(x.admins.front().origin.str() + ": xmpp.admin is set but xmpp.jid is not");
  }
  return errors.empty() ? ParseResult::run : ParseResult::exit_usage;
}

}  // namespace imwatch::agent
