#include "agent/rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "agent/text_util.h"

namespace imwatch::agent {

std::string_view op_text(Op op) {
  switch (op) {
    case Op::gt: return ">";
    case Op::ge: return ">=";
    case Op::lt: return "<";
    case Op::le: return "<=";
  }
  return "?";
}

std::string_view severity_text(Severity s) {
  switch (s) {
    case Severity::ok: return "OK";
    case Severity::warning: return "WARNING";
    case Severity::critical: return "CRITICAL";
  }
  return "?";
}

bool Rule::breaches(double v, double t) const {
  switch (op) {
    case Op::gt: return v > t;
    case Op::ge: return v >= t;
    case Op::lt: return v < t;
    case Op::le: return v <= t;
  }
  return false;
}

namespace {

// 1.50 -> "1.5", 3 -> "3", 1234.567 -> "1234.57"
std::string num(double v) {
  std::string s = fmt::format("{:.2f}", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

// 45 -> "45s", 3720 -> "1h 2m", 273600 -> "3d 4h"
std::string human(double seconds) {
  auto s = static_cast<long long>(round_half_away(std::min(std::max(seconds, 0.0), 1e15)));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return s % 60 ? fmt::format("{}m {}s", s / 60, s % 60) : fmt::format("{}m", s / 60);
  if (s < 86400) return s % 3600 / 60 ? fmt::format("{}h {}m", s / 3600, s % 3600 / 60) : fmt::format("{}h", s / 3600);
  return s % 86400 / 3600 ? fmt::format("{}d {}h", s / 86400, s % 86400 / 3600) : fmt::format("{}d", s / 86400);
}

std::optional<double> to_number(const std::string& t) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v, std::chars_format::fixed);
  if (ec != std::errc() || ptr != t.data() + t.size() || t.empty() || !std::isfinite(v)) return std::nullopt;
  return v;
}

bool valid_name(std::string_view n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  });
}

}  // namespace

std::string Rule::canonical() const {
  std::string s = fmt::format("{}: {} {} {}", name, metric, op_text(op), num(warn));
  if (crit) s += " crit " + num(*crit);
  if (for_s > 0) s += " for " + format_duration(for_s);
  if (clear) s += " clear " + num(*clear);
  if (repeat) s += " repeat " + format_duration(*repeat);
  return s;
}

std::string Rule::explain(double default_repeat) const {
  std::string s = fmt::format("{}: warning when {} {} {}", name, metric, op_text(op), num(warn));
  if (crit) s += fmt::format(", critical when {} {}", op_text(op), num(*crit));
  s += for_s > 0 ? fmt::format(", held for {}", format_duration(for_s)) : ", at once";
  std::string_view good = op == Op::gt ? "<=" : op == Op::ge ? "<" : op == Op::lt ? ">=" : ">";
  s += fmt::format("; resolves when {} {}", good, num(clear_value()));
  if (for_s > 0) s += fmt::format(" for {}", format_duration(for_s));
  double rep = repeat.value_or(default_repeat);
  s += rep > 0 ? fmt::format("; reminders every {}", format_duration(rep)) : "; no reminders";
  return s;
}

std::string parse_rule(std::string_view text, const std::vector<std::string>& metrics, Rule& out) {
  out = Rule{};
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return "rule: expected 'NAME: METRIC OP VALUE ...', got " + quote(text);
  out.name = trim(text.substr(0, colon));
  if (!valid_name(out.name))
    return "rule: bad name " + quote(out.name) + " (letters, digits, '_', '-', '.'; at most 64)";
  auto words = split_words(text.substr(colon + 1));
  auto err = [&](const std::string& m) { return "rule '" + out.name + "': " + m; };
  if (words.size() < 3) return err("expected 'METRIC OP VALUE' after the name");

  out.metric = words[0];
  if (std::find(metrics.begin(), metrics.end(), out.metric) == metrics.end()) {
    std::string m = "unknown metric " + quote(out.metric);
    if (auto near = nearest(out.metric, metrics, 4); !near.empty()) m += " (did you mean " + join_quoted(near) + "?)";
    return err(m);
  }
  const std::string& op = words[1];
  if (op == ">")
    out.op = Op::gt;
  else if (op == ">=")
    out.op = Op::ge;
  else if (op == "<")
    out.op = Op::lt;
  else if (op == "<=")
    out.op = Op::le;
  else
    return err("unknown operator " + quote(op) + " (use >, >=, < or <=)");
  auto warn = to_number(words[2]);
  if (!warn) return err("bad threshold " + quote(words[2]));
  out.warn = *warn;

  bool seen_crit = false, seen_for = false, seen_clear = false, seen_repeat = false;
  for (size_t i = 3; i < words.size(); i += 2) {
    const std::string& key = words[i];
    bool* seen = key == "crit"     ? &seen_crit
                 : key == "for"    ? &seen_for
                 : key == "clear"  ? &seen_clear
                 : key == "repeat" ? &seen_repeat
                                   : nullptr;
    if (!seen) return err("unexpected " + quote(key) + " (expected crit, for, clear or repeat)");
    if (*seen) return err(quote(key) + " given twice");
    *seen = true;
    if (i + 1 >= words.size()) return err(quote(key) + " needs a value");
    const std::string& v = words[i + 1];
    if (key == "crit" || key == "clear") {
      auto n = to_number(v);
      if (!n) return err("bad " + key + " value " + quote(v));
      (key == "crit" ? out.crit : out.clear) = *n;
    } else {
      auto d = parse_duration(v);
      if (!d) return err("bad duration " + quote(v) + " (use e.g. 30s, 5m, 2h, 1d)");
      if (key == "for")
        out.for_s = *d;
      else
        out.repeat = *d;
    }
  }
  bool upward = out.op == Op::gt || out.op == Op::ge;
  if (out.crit && (upward ? *out.crit < out.warn : *out.crit > out.warn))
    return err(fmt::format("crit {} must be {} warn {}", num(*out.crit), upward ? ">=" : "<=", num(out.warn)));
  if (out.clear && (upward ? *out.clear > out.warn : *out.clear < out.warn))
    return err(fmt::format("clear {} must be on the good side of warn {} ({} {})", num(*out.clear), num(out.warn),
                           upward ? "<=" : ">=", num(out.warn)));
  return {};
}

std::vector<Rule> compile_rules(const Config& cfg, const std::vector<std::string>& metrics,
                                std::vector<std::string>& errors) {
  std::vector<Rule> rules;
  std::map<std::string, std::string> seen;
  for (const auto& line : cfg.rules) {
    Rule r;
    if (auto err = parse_rule(line.value, metrics, r); !err.empty()) {
      errors.push_back(line.origin.str() + ": " + err);
      continue;
    }
    r.origin = line.origin;
    if (auto [it, fresh] = seen.emplace(r.name, line.origin.str()); !fresh) {
      errors.push_back(line.origin.str() + ": rule " + quote(r.name) + " is already defined at " + it->second);
      continue;
    }
    rules.push_back(std::move(r));
  }
  return rules;
}

// ---- the engine ----

void AlertEngine::configure(std::vector<Rule> rules, AlertSettings settings) {
  settings_ = settings;
  // Unchanged rules keep their state; changed or removed ones start afresh.
  std::map<std::string, RuleState> kept;
  for (const auto& r : rules) {
    auto it = states_.find(r.name);
    if (it != states_.end() && it->second.fingerprint == r.canonical())
      kept.emplace(r.name, std::move(it->second));
    else
      kept[r.name].fingerprint = r.canonical();
  }
  states_ = std::move(kept);
  rules_ = std::move(rules);
  owner_.clear();
  dirty_ = true;
}

bool AlertEngine::take_dirty() {
  bool d = dirty_;
  dirty_ = false;
  return d;
}

std::vector<Event> AlertEngine::take_events() {
  std::vector<Event> e;
  e.swap(events_);
  return e;
}

void AlertEngine::mute(const std::string& rule, double until) {
  mutes_[rule] = until;
  dirty_ = true;
}

void AlertEngine::unmute(const std::string& rule) {
  if (rule.empty())
    mutes_.clear();
  else
    mutes_.erase(rule);
  dirty_ = true;
}

bool AlertEngine::muted(const std::string& rule, double wall) const {
  for (const auto& key : {std::string(), rule}) {
    auto it = mutes_.find(key);
    if (it != mutes_.end() && it->second > wall) return true;
  }
  return false;
}

bool AlertEngine::ack(uint64_t id) {
  for (auto& [name, s] : states_)
    if (s.severity != Severity::ok && s.id == id) {
      s.acked = true;
      dirty_ = true;
      return true;
    }
  return false;
}

Event AlertEngine::make_event(const Rule& r, const RuleState& s, Event::Kind kind) const {
  Event e;
  e.kind = kind;
  e.rule = r.name;
  e.severity = s.severity;
  e.previous = s.told;
  e.id = s.id;
  e.value = s.value;
  e.metric = r.metric;
  e.op = std::string(op_text(r.op));
  e.threshold = s.severity == Severity::critical && r.crit ? *r.crit : r.warn;
  return e;
}

void AlertEngine::emit(Event e, double wall) {
  dirty_ = true;
  // Probe events are muted only by "mute all".
  bool probe = e.kind == Event::probe_failing || e.kind == Event::probe_recovered;
  if (probe ? muted("", wall) : muted(e.rule, wall)) return;
  events_.push_back(std::move(e));
}

void AlertEngine::transition(const Rule& r, RuleState& s, Event::Kind kind, Severity to, double now, double wall,
                             double held) {
  s.severity = to;
  if (kind == Event::fired) {
    s.id = next_id_++;
    s.fired_at = wall;
    s.acked = false;
  }
  dirty_ = true;
  s.changes.push_back(now);
  while (!s.changes.empty() && s.changes.front() <= now - settings_.flap_window) s.changes.pop_front();
  if (!s.flapping && static_cast<int>(s.changes.size()) > settings_.flap_changes) {
    s.flapping = true;
    Event e = make_event(r, s, Event::flapping);
    e.duration = settings_.flap_window;
    e.detail = std::to_string(s.changes.size());
    emit(std::move(e), wall);
    return;
  }
  if (s.flapping) return;  // quiet until it settles
  Event e = make_event(r, s, kind);
  e.duration = kind == Event::resolved ? wall - s.fired_at : held;
  emit(std::move(e), wall);
  s.told = to;
  s.last_notified = wall;
}

void AlertEngine::evaluate_rule(size_t index, std::optional<double> value, double now, double wall) {
  const Rule& r = rules_[index];
  RuleState& s = states_[r.name];

  // Flapping ends once the rule has been stable for a whole window.
  if (s.flapping && (s.changes.empty() || now - s.changes.back() >= settings_.flap_window)) {
    s.flapping = false;
    s.changes.clear();
    Event e = make_event(r, s, Event::settled);
    if (s.severity == Severity::ok) e.id = 0;
    emit(std::move(e), wall);
    s.told = s.severity;
    s.last_notified = wall;
  }

  s.value = value;
  if (!value) {
    // Unknown is neither good nor bad: no fire, no resolve, and a run of
    // samples that `for` asks for starts again after the gap.
    s.bad_since.reset();
    s.crit_since.reset();
    s.noncrit_since.reset();
    s.good_since.reset();
    return;
  }
  const double v = *value;
  const bool bad = r.breaches(v, r.warn);
  const bool crit = r.crit && r.breaches(v, *r.crit);
  const bool good = !r.breaches(v, r.clear_value());
  auto track = [&](std::optional<double>& since, bool cond) {
    if (!cond)
      since.reset();
    else if (!since)
      since = now;
  };
  track(s.bad_since, bad);
  track(s.crit_since, crit);
  track(s.noncrit_since, !crit);
  track(s.good_since, good);
  auto held = [&](const std::optional<double>& since) { return since && now - *since >= r.for_s; };
  auto dur = [&](const std::optional<double>& since) { return since ? now - *since : 0.0; };

  switch (s.severity) {
    case Severity::ok:
      if (crit && held(s.crit_since))
        transition(r, s, Event::fired, Severity::critical, now, wall, dur(s.crit_since));
      else if (bad && held(s.bad_since))
        transition(r, s, Event::fired, Severity::warning, now, wall, dur(s.bad_since));
      break;
    case Severity::warning:
      if (crit && held(s.crit_since))
        transition(r, s, Event::escalated, Severity::critical, now, wall, dur(s.crit_since));
      else if (good && held(s.good_since))
        transition(r, s, Event::resolved, Severity::ok, now, wall, dur(s.good_since));
      break;
    case Severity::critical:
      if (good && held(s.good_since))
        transition(r, s, Event::resolved, Severity::ok, now, wall, dur(s.good_since));
      else if (!crit && held(s.noncrit_since))
        transition(r, s, Event::deescalated, Severity::warning, now, wall, dur(s.noncrit_since));
      break;
  }
}

void AlertEngine::remind(double wall) {
  for (const auto& r : rules_) {
    RuleState& s = states_[r.name];
    double every = r.repeat.value_or(settings_.repeat);
    if (s.severity == Severity::ok || s.acked || s.flapping || every <= 0) continue;
    if (wall - s.last_notified < every) continue;
    s.last_notified = wall;
    Event e = make_event(r, s, Event::reminder);
    e.duration = wall - s.fired_at;
    emit(std::move(e), wall);
  }
}

void AlertEngine::probe_result(const std::string& probe, const std::string& error, double wall) {
  ProbeHealth& h = probes_[probe];
  if (!error.empty()) {
    // Three in a row: one slow read or a file caught mid-rewrite is not news.
    if (++h.failures >= 3 && !h.told_failing) {
      h.told_failing = true;
      h.failing_since = wall;
      Event e;
      e.kind = Event::probe_failing;
      e.rule = probe;
      e.detail = error;
      emit(std::move(e), wall);
    }
    return;
  }
  h.failures = 0;
  if (h.told_failing) {
    h.told_failing = false;
    Event e;
    e.kind = Event::probe_recovered;
    e.rule = probe;
    e.duration = h.failing_since > 0 ? wall - h.failing_since : 0;
    emit(std::move(e), wall);
  }
}

// ---- messages ----

namespace {

std::string event_line(const Event& e) {
  std::string id = e.id ? fmt::format(" #{}", e.id) : "";
  std::string value = e.value ? num(*e.value) : "unknown";
  switch (e.kind) {
    case Event::fired:
      return fmt::format("{} {}: {} {} {} {}{}{}", severity_text(e.severity), e.rule, e.metric, value, e.op,
                         num(e.threshold), e.duration > 0 ? " for " + human(e.duration) : "", id);
    case Event::escalated:
    case Event::deescalated:
      return fmt::format("{} {}: {} {} {} {} (was {}){}", severity_text(e.severity), e.rule, e.metric, value, e.op,
                         num(e.threshold), severity_text(e.previous), id);
    case Event::resolved:
      return fmt::format("RESOLVED {}: {} {} after {}{}", e.rule, e.metric, value, human(e.duration), id);
    case Event::reminder:
      return fmt::format("still {} {}: {} {} {} {} for {}{}", severity_text(e.severity), e.rule, e.metric, value, e.op,
                         num(e.threshold), human(e.duration), id);
    case Event::flapping:
      return fmt::format("FLAPPING {}: {} changes within {}, quiet until it settles{}", e.rule, e.detail,
                         human(e.duration), id);
    case Event::settled:
      return e.severity == Severity::ok ? fmt::format("SETTLED {}: OK, {} {}", e.rule, e.metric, value)
                                        : fmt::format("SETTLED {}: {} {} {} {} {}{}", e.rule, severity_text(e.severity),
                                                      e.metric, value, e.op, num(e.threshold), id);
    case Event::probe_failing: return fmt::format("PROBE {} failing: {}", e.rule, e.detail);
    case Event::probe_recovered: return fmt::format("PROBE {} recovered after {}", e.rule, human(e.duration));
  }
  return {};
}

}  // namespace

std::string format_notification(const std::string& host, const std::vector<Event>& events) {
  if (events.size() == 1) return host + ": " + event_line(events[0]);
  std::string out = fmt::format("{}: {} changes", host, events.size());
  for (const auto& e : events) out += "\n" + event_line(e);
  return out;
}

}  // namespace imwatch::agent
