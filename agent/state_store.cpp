#include "agent/state_store.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <sstream>

#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

constexpr std::string_view kHeader = "imwatch-state 1";

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab - start));
    if (tab == std::string_view::npos) return out;
    start = tab + 1;
  }
}

bool to_u64(std::string_view t, uint64_t& v) {
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  return ec == std::errc() && p == t.data() + t.size() && !t.empty();
}

// General format: serialize_state writes %.17g, which turns to exponent
// notation for very large and very small values.
bool to_time(std::string_view t, double& v) {
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  return ec == std::errc() && p == t.data() + t.size() && !t.empty() && std::isfinite(v) && v >= 0;
}

bool to_severity(std::string_view t, Severity& s) {
  if (t == "0")
    s = Severity::ok;
  else if (t == "1")
    s = Severity::warning;
  else if (t == "2")
    s = Severity::critical;
  else
    return false;
  return true;
}

bool to_bool(std::string_view t, bool& b) {
  if (t != "0" && t != "1") return false;
  b = t == "1";
  return true;
}

// A field of a tab-separated line: no tab, no newline, no control byte.
std::string field(std::string_view t) {
  std::string out(t.substr(0, 256));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return out;
}

std::string opt_time(const std::optional<double>& t) {
  if (!t) return "-";
  std::ostringstream o;
  o.precision(17);
  o << *t;
  return o.str();
}

bool to_opt_time(std::string_view t, std::optional<double>& v) {
  if (t == "-") {
    v.reset();
    return true;
  }
  double d = 0;
  if (!to_time(t, d)) return false;
  v = d;
  return true;
}

// "iowait,disk" or "*" (all).
bool to_rules(std::string_view t, std::vector<std::string>& rules) {
  if (t == "*") return true;
  for (size_t at = 0; at <= t.size();) {
    size_t comma = std::min(t.find(',', at), t.size());
    std::string_view name = t.substr(at, comma - at);
    if (!valid_rule_name(name) || rules.size() >= 256) return false;
    rules.emplace_back(name);
    at = comma + 1;
  }
  return true;
}

// "hold KEY UNTIL MAX OVERRUN PID PID_START RULES WHO REASON": UNTIL and
// MAX "-" for none, RULES "*" for all. The text fields are read the way
// write_hold writes them, so a hand-edited control byte or an over-long key
// is normalised on load, not on the next save: holds are kept sorted by key,
// and a key that changed between load and save would change their order.
std::optional<Hold> parse_hold_record(const std::vector<std::string_view>& f) {
  Hold h;
  h.key = field(f[1]);
  uint64_t pid = 0;
  if (h.key.empty() || !to_opt_time(f[2], h.until) || !to_opt_time(f[3], h.max_until) ||
      !to_bool(f[4], h.overrun_told) || !to_u64(f[5], pid) || pid > 4194304 || !to_u64(f[6], h.pid_start) ||
      !to_rules(f[7], h.rules))
    return std::nullopt;
  h.pid = static_cast<int>(pid);
  h.who = field(f[8]);
  h.reason = field(f[9]);
  return h;
}

void write_hold(std::ostream& o, const Hold& h) {
  std::string rules;
  for (const auto& r : h.rules) rules += (rules.empty() ? "" : ",") + r;
  o << "hold\t" << field(h.key) << "\t" << opt_time(h.until) << "\t" << opt_time(h.max_until) << "\t"
    << h.overrun_told << "\t" << h.pid << "\t" << h.pid_start << "\t" << (rules.empty() ? "*" : rules) << "\t"
    << field(h.who) << "\t" << field(h.reason) << "\n";
}

struct SavedRule {
  std::string name, fingerprint;
  RuleState s;
};

// What the file holds, parsed before anything of it is applied.
struct SavedState {
  std::vector<SavedRule> rules;
  std::vector<std::pair<std::string, double>> mutes, probes;
  std::vector<Hold> holds;
  uint64_t next_id = 1;
};

// A "rule" record, its fields split.
std::optional<SavedRule> parse_rule_record(const std::vector<std::string_view>& f) {
  SavedRule r;
  r.name = std::string(f[1]);
  r.fingerprint = std::string(f[9]);
  RuleState& s = r.s;
  if (r.name.empty() || !to_severity(f[2], s.severity) || !to_u64(f[3], s.id) || !to_time(f[4], s.fired_at) ||
      !to_time(f[5], s.last_notified) || !to_bool(f[6], s.acked) || !to_bool(f[7], s.flapping) ||
      !to_severity(f[8], s.told))
    return std::nullopt;
  return r;
}

// "acked RULE BY WHEN": who acked the rule's alert, right after its "rule"
// record.
std::string parse_acked_record(const std::vector<std::string_view>& f, SavedState& saved) {
  double t = 0;
  if (saved.rules.empty() || saved.rules.back().name != f[1] || f[2].empty() || !to_time(f[3], t))
    return "bad acked line";
  saved.rules.back().s.acked_by = std::string(f[2].substr(0, 64));
  saved.rules.back().s.acked_at = t;
  return {};
}

// One record after the header into `saved`: "" or what is wrong with it.
std::string parse_record(std::string_view line, SavedState& saved) {
  auto f = split_tabs(line);
  if (f[0] == "next_id" && f.size() == 2) return to_u64(f[1], saved.next_id) ? "" : "bad next_id";
  if (f[0] == "rule" && f.size() == 10) {
    auto r = parse_rule_record(f);
    if (!r) return "bad rule line";
    saved.rules.push_back(std::move(*r));
    return {};
  }
  if (f[0] == "acked" && f.size() == 4) return parse_acked_record(f, saved);
  if (f[0] == "hold" && f.size() == 10) {
    auto h = parse_hold_record(f);
    if (!h) return "bad hold line";
    saved.holds.push_back(std::move(*h));
    return {};
  }
  if ((f[0] == "mute" || f[0] == "probe") && f.size() == 3) {
    // "mute RULE UNTIL" ("*": all rules) or "probe NAME FAILING_SINCE".
    double t = 0;
    if (f[1].empty() || !to_time(f[2], t)) return "bad " + std::string(f[0]) + " line";
    (f[0] == "mute" ? saved.mutes : saved.probes)
        .emplace_back(f[1] == "*" && f[0] == "mute" ? "" : std::string(f[1]), t);
    return {};
  }
  return "unknown line " + quote(line);
}

void apply_saved(const SavedState& saved, AlertEngine& engine) {
  engine.set_next_id(saved.next_id);
  // By name: a rule changed while we were down keeps its alert, one removed
  // is closed with REMOVED (AlertEngine::restore).
  for (const auto& r : saved.rules) engine.restore(r.name, r.s);
  for (const auto& [rule, until] : saved.mutes) engine.mute(rule, until);
  engine.restore_holds(saved.holds);
  for (const auto& [probe, since] : saved.probes) {
    ProbeHealth& h = engine.probes()[probe];
    h.told_failing = true;
    h.failing_since = since;
  }
}

}  // namespace

std::string serialize_state(const AlertEngine& engine) {
  std::ostringstream o;
  o.precision(17);
  o << kHeader << "\nnext_id\t" << engine.next_id() << "\n";
  for (const auto& [name, s] : engine.states()) {
    if (s.severity == Severity::ok && s.told == Severity::ok && !s.flapping) continue;
    o << "rule\t" << name << "\t" << static_cast<int>(s.severity) << "\t" << s.id << "\t" << s.fired_at << "\t"
      << s.last_notified << "\t" << s.acked << "\t" << s.flapping << "\t" << static_cast<int>(s.told) << "\t"
      << s.fingerprint << "\n";
    if (s.acked && !s.acked_by.empty()) o << "acked\t" << name << "\t" << s.acked_by << "\t" << s.acked_at << "\n";
  }
  for (const auto& [rule, until] : engine.mutes())
    o << "mute\t" << (rule.empty() ? "*" : rule) << "\t" << until << "\n";
  for (const auto& [key, h] : engine.holds()) write_hold(o, h);
  for (const auto& [probe, h] : engine.probes())
    if (h.told_failing) o << "probe\t" << probe << "\t" << h.failing_since << "\n";
  return o.str();
}

std::string parse_state(std::string_view text, AlertEngine& engine) {
  // Parse everything first, apply only if the whole file is sound.
  SavedState saved;
  bool header = false;
  int n = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return "line " + std::to_string(n + 1) + ": truncated (no newline)";
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++n;
    std::string why;
    if (!header)
      why = line == kHeader ? "" : "not an imwatch state file";
    else
      why = parse_record(line, saved);
    if (!why.empty()) return "line " + std::to_string(n) + ": " + why;
    header = true;
  }
  if (!header) return "empty file";
  apply_saved(saved, engine);
  return {};
}

void StateStore::load(AlertEngine& engine) {
  std::string text, error;
  switch (read_state_file(path_, max_size, text, error)) {
    case ReadResult::ok: break;
    case ReadResult::missing: return;
    case ReadResult::error: spdlog::warn("state: {}; starting with no saved state", error); return;
  }
  if (auto err = parse_state(text, engine); !err.empty()) {
    spdlog::warn("state {}: {}; ignoring it and starting with no saved state", path_, err);
    return;
  }
  last_written_ = text;
  spdlog::info("state {}: restored", path_);
}

void StateStore::save(const AlertEngine& engine) {
  std::string text = serialize_state(engine);
  if (text == last_written_) return;
  if (auto err = write_file_atomically(path_, text); !err.empty()) {
    if (!failing_) spdlog::error("cannot persist state: {}; monitoring and alerting go on", err);
    failing_ = true;
    return;
  }
  if (failing_) spdlog::info("state {}: persisting again", path_);
  failing_ = false;
  last_written_ = std::move(text);
}

}  // namespace imwatch::agent
