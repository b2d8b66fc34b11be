#include "agent/messages.h"

#include <ctime>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "agent/report.h"

namespace imwatch::agent {

namespace {

// "14:01:30", local time: when a peer was last seen.
std::string clock_time(double wall) {
  time_t t = static_cast<time_t>(wall);
  tm local{};
  localtime_r(&t, &local);
  char buf[16];
  strftime(buf, sizeof buf, "%H:%M:%S", &local);
  return buf;
}


std::string value_text(const std::optional<double>& v) { return v ? format_value(*v) : "unknown"; }

std::string id_text(uint64_t id) { return id ? fmt::format(" #{}", id) : ""; }

// ", held 5m" when the condition had to hold (a rule with `for`).
std::string held(double seconds) { return seconds >= 1 ? ", held " + human_duration(seconds) : ""; }

// "mem_used_pct 97 > 95"
std::string condition(const Event& e) {
  return fmt::format("{} {} {} {}", e.metric, value_text(e.value), e.op, format_value(e.threshold));
}

// What a check's plugin said, in place of a rule's condition.
std::string said(const Event& e) { return e.detail.empty() ? "(no message yet)" : e.detail; }

// A check's line: the plugin's message where a rule says its condition.
std::string check_line(const Event& e) {
  const std::string id = id_text(e.id);
  const auto sev = severity_text(e.severity);
  switch (e.kind) {
    case Event::fired: return fmt::format("{} {}: {}{}{}", sev, e.rule, said(e), held(e.duration), id);
    case Event::escalated:
    case Event::deescalated:
      return fmt::format("{} {}: {} (was {}){}{}", sev, e.rule, said(e), severity_text(e.previous), held(e.duration),
                         id);
    case Event::resolved:
      return fmt::format("RESOLVED {}: {} after firing {}{}", e.rule, said(e), human_duration(e.duration), id);
    case Event::reminder:
      return fmt::format("still {} {}: {}, firing {}{}", sev, e.rule, said(e), human_duration(e.duration), id);
    case Event::settled: return fmt::format("SETTLED {}: {}, {}{}", e.rule, sev, said(e), id);
    default: return {};
  }
}

// A check whose plugin could not tell (its "probe"): "check.NAME".
bool is_check_probe(const Event& e) { return e.rule.starts_with("check."); }

// "iowait, disk" or "all rules": what a hold covers.
std::string held_rules(const std::vector<std::string>& rules) {
  return rules.empty() ? "all rules" : fmt::format("{}", fmt::join(rules, ", "));
}

}  // namespace

std::string human_duration(double seconds, Rounding rounding) {
  const bool up = rounding == Rounding::up;
  const double x = std::min(std::max(seconds, 0.0), 1e12);  // NaN -> 0
  auto n = static_cast<long long>(x);                       // x >= 0: truncation is floor
  if (up && static_cast<double>(n) < x) ++n;
  if (n < 60) return fmt::format("{}s", n);
  const long long m = up ? (n + 59) / 60 : n / 60;  // minutes
  if (m < 60) return fmt::format("{}m", m);
  if (m < 24LL * 60) return m % 60 ? fmt::format("{}h {}m", m / 60, m % 60) : fmt::format("{}h", m / 60);
  const long long h = up ? (m + 59) / 60 : m / 60;  // hours
  return h % 24 ? fmt::format("{}d {}h", h / 24, h % 24) : fmt::format("{}d", h / 24);
}

std::string event_line(const Event& e) {
  if (e.check)
    if (std::string line = check_line(e); !line.empty()) return line;
  if (e.kind == Event::probe_failing && is_check_probe(e))
    return fmt::format("UNKNOWN {}: {}", e.rule.substr(6), e.detail);
  if (e.kind == Event::probe_recovered && is_check_probe(e))
    return fmt::format("KNOWN {}: the check answers again after {} UNKNOWN", e.rule.substr(6),
                       human_duration(e.duration));
  const std::string id = id_text(e.id);
  const auto sev = severity_text(e.severity);
  switch (e.kind) {
    case Event::fired: return fmt::format("{} {}: {}{}{}{}", sev, e.rule, condition(e), held(e.duration), id, e.trend);
    case Event::escalated:
    case Event::deescalated:
      return fmt::format("{} {}: {} (was {}){}{}{}", sev, e.rule, condition(e), severity_text(e.previous),
                         held(e.duration), id, e.trend);
    case Event::resolved:
      return fmt::format("RESOLVED {}: {} {} after firing {}{}", e.rule, e.metric, value_text(e.value),
                         human_duration(e.duration), id);
    case Event::reminder:
      return fmt::format("still {} {}: {}, firing {}{}", sev, e.rule, condition(e), human_duration(e.duration), id);
    case Event::flapping:
      return fmt::format("FLAPPING {}: {} changes within {}, quiet until it settles{}", e.rule, e.detail,
                         human_duration(e.duration), id);
    case Event::settled:
      return e.severity == Severity::ok
                 ? fmt::format("SETTLED {}: OK, {} {}{}", e.rule, e.metric, value_text(e.value), id)
                 : fmt::format("SETTLED {}: {} {}{}", e.rule, sev, condition(e), id);
    case Event::removed:
      return fmt::format("REMOVED {} (was {}, firing {}){}", e.rule, e.was_flapping ? "FLAPPING" : sev,
                         human_duration(e.duration), id);
    case Event::vanished:
      return fmt::format("VANISHED {}: no longer there, alert closed (was {}, firing {}){}", e.rule,
                         e.was_flapping ? "FLAPPING" : sev, human_duration(e.duration), id);
    case Event::probe_failing: return fmt::format("PROBE {} failing: {}", e.rule, e.detail);
    case Event::probe_recovered:
      return fmt::format("PROBE {} recovered after failing {}", e.rule, human_duration(e.duration));
    case Event::test: return "test alert from imwatch. If you read this, alerts reach you.";
    case Event::peer_vanished:
      return fmt::format("{} vanished without a goodbye (last seen {}{})", e.rule, clock_time(e.value.value_or(0)),
                         e.duration >= 0 ? ", up " + human_duration(e.duration) : "");
    case Event::audit: return e.detail;
    case Event::peer_back: return fmt::format("{} is back after {} away", e.rule, human_duration(e.duration));
    case Event::held:
      return fmt::format("HELD {}: {}{}", held_rules(e.rules), e.detail,
                         e.duration > 0 ? ", for " + human_duration(e.duration, Rounding::up) : "");
    case Event::override_set: return fmt::format("SET {}: {}, by {}", e.rule, e.detail, e.who);
    case Event::override_reset: return fmt::format("RESET {}: the file's rule again, by {}", e.rule, e.who);
    case Event::override_dropped: return fmt::format("OVERRIDE DROPPED {}", e.detail);
    case Event::released: return fmt::format("RELEASED {}: {}", held_rules(e.rules), e.detail);
    case Event::overrun:
      return fmt::format("OVERRUN {}: {}, {} past its limit", held_rules(e.rules), e.detail,
                         human_duration(e.duration));
    case Event::folded:
    case Event::dropped:
    case Event::converted: return e.detail;
  }
  return {};
}

std::string notification_text(const std::string& host, const std::vector<std::string>& lines) {
  if (lines.size() == 1) return host + ": " + lines[0];
  std::string out = fmt::format("{}: {} changes", host, lines.size());
  for (const auto& l : lines) out += "\n" + l;
  return out;
}

std::string notification_text(const Notification& n) {
  std::vector<std::string> lines;
  for (const auto& e : n.events) lines.push_back(event_line(e));
  return notification_text(n.host, lines);
}

std::string folded_line(const std::vector<std::pair<std::string, uint64_t>>& alerts) {
  std::vector<std::string> names;
  for (const auto& [rule, id] : alerts)
    names.push_back(rule.empty() ? fmt::format("#{}", id) : fmt::format("{} #{}", rule, id));
  return fmt::format("while undelivered, {} alert{} fired and resolved: {}", names.size(), names.size() == 1 ? "" : "s",
                     fmt::join(names, ", "));
}

std::string dropped_line(size_t dropped, size_t limit) {
  return fmt::format("{} notification{} dropped while the link was down (outbox limit {})", dropped,
                     dropped == 1 ? "" : "s", limit);
}

namespace {

// One open alert of `alerts`: "#4 WARNING disk /var: fs_used_pct 93 > 90,
// firing 5m", fitted; a check's message in place of the condition.
std::string open_alert_line(const Rule& r, const std::string& name, const RuleState& s, double wall) {
  std::string acked = !s.acked             ? ""
                      : s.acked_by.empty() ? ", acked"
                                           : fmt::format(", acked by {} {} ago", s.acked_by, human_duration(wall - s.acked_at));
  if (s.flapping)  // quiet, not gone: the last state admins were told still stands
    return fit({fmt::format("#{} FLAPPING {}:", s.id, name), fmt::format("{} {},", r.metric, value_text(s.value)),
                fmt::format("last told {}{}", severity_text(s.told), acked)});
  std::string what;
  if (r.is_check()) {
    what = (s.message.empty() ? "(no message yet)" : s.message) + ",";
  } else {
    double threshold = s.severity == Severity::critical && r.crit ? *r.crit : r.warn;
    what = fmt::format("{} {} {} {},", r.metric, value_text(s.value), op_text(r.op), format_value(threshold));
  }
  return fit({fmt::format("#{} {} {}:", s.id, severity_text(s.severity), name), what,
              fmt::format("firing {}{}", human_duration(wall - s.fired_at), acked)});
}

// "held: iowait, 1h 20m more (maintenance backups)": a line per hold in force.
void hold_lines(const AlertEngine& engine, double wall, std::vector<std::string>& lines) {
  for (const auto& [key, h] : engine.holds()) {
    if (h.until && *h.until <= wall) continue;
    std::string left = h.until ? human_duration(*h.until - wall, Rounding::up) + " more" : "until released";
    lines.push_back(fit({fmt::format("held: {},", held_rules(h.rules)), left, fmt::format("({})", h.reason)}));
  }
}

}  // namespace

// Each line of a listing is fitted to the chat's 40 columns (report.h): one
// line where it fits, else broken between its parts, never inside one that
// fits a line.
std::string alerts_listing(const AlertEngine& engine, double wall) {
  std::vector<std::string> lines;
  for (const auto& r : engine.rules())
    engine.each_state(r, [&](const std::string& name, const RuleState& s) {
      if (s.open()) lines.push_back(open_alert_line(r, name, s, wall));
    });
  for (const auto& [probe, h] : engine.probes()) {
    if (!h.told_failing) continue;
    if (probe.starts_with("check."))
      lines.push_back(fit({"check " + probe.substr(6), "UNKNOWN " + human_duration(wall - h.failing_since)}));
    else
      lines.push_back(fit({"probe " + probe, "failing " + human_duration(wall - h.failing_since)}));
  }
  for (const auto& [rule, until] : engine.mutes())
    if (until > wall)
      lines.push_back(fit({fmt::format("muted: {},", rule.empty() ? "all" : rule),
                           human_duration(until - wall, Rounding::up) + " more"}));
  hold_lines(engine, wall, lines);
  if (lines.empty()) return "no alerts";
  return fmt::format("{}", fmt::join(lines, "\n"));
}

// Rule::canonical() ("name: metric > 80 crit 95 clear 75") in the pieces a
// line may break between: the name, the condition, then each keyword with
// its value.
std::vector<std::string> rule_parts(const Rule& r) {
  std::vector<std::string> words, parts;
  std::string text = r.canonical();
  for (size_t at = 0; at < text.size();) {
    size_t sp = std::min(text.find(' ', at), text.size());
    words.push_back(text.substr(at, sp - at));
    at = sp + 1;
  }
  for (size_t i = 0; i < words.size(); ++i) {
    if (i == 0 || i == 1 || (i >= 4 && i % 2 == 0))
      parts.push_back(words[i]);
    else
      parts.back() += " " + words[i];
  }
  return parts;
}

// Two lines a rule, the rule as configured, then its state and the value it
// was last evaluated on: "  WARNING, now 0.21, muted".
namespace {

// "alice" of "alice@example.org": who set an override, short enough for a
// phone's line.
std::string short_who(const std::string& who) {
  size_t at = who.find('@');
  return at == std::string::npos || at == 0 ? who : who.substr(0, at);
}

// A line per overridden field: "warn 85 (set by alice 2h ago; file: 90)".
void override_lines(const Rule& r, const RuleEditor& editor, double wall, std::vector<std::string>& lines) {
  auto it = editor.overrides().find(r.name);
  if (it == editor.overrides().end()) return;
  const auto& files = editor.file_rules();
  auto file = std::find_if(files.begin(), files.end(), [&](const Rule& f) { return f.name == r.name; });
  for (const auto& [key, value] : it->second.fields)
    lines.push_back(fit({fmt::format("  {} {}", key, value), fmt::format("(set by {}", short_who(it->second.who)),
                         human_duration(wall - it->second.when) + " ago;",
                         fmt::format("file: {})", file == files.end() ? "?" : file_value(*file, key))},
                        4));
}

}  // namespace

std::string rules_listing(const AlertEngine& engine, double wall, const RuleEditor* editor) {
  if (engine.rules().empty()) return "no rules configured";
  std::vector<std::string> lines;
  for (const auto& r : engine.rules()) {
    if (r.is_check()) continue;  // the `checks` command lists them
    lines.push_back(fit(rule_parts(r), 4));
    const std::string muted = engine.muted(r.name, wall) ? ", muted" : "";
    const Hold* h = engine.hold_of(r.name, wall);
    const std::string held = !h ? ""
                             : ", held " + (h->until ? human_duration(*h->until - wall, Rounding::up) + " more"
                                                     : "while " + h->reason);
    if (editor) override_lines(r, *editor, wall, lines);
    bool any = false;
    engine.each_state(r, [&](const std::string& name, const RuleState& s) {
      any = true;
      std::string state = s.flapping ? fmt::format("FLAPPING, last told {}", severity_text(s.told))
                                     : std::string(severity_text(s.severity));
      // A rule over every mount: one line each, the mount first.
      std::string who = r.each_instance ? name.substr(r.name.size() + 1) + " " : "";
      lines.push_back(
          fit({fmt::format("  {}{},", who, state), fmt::format("now {}{}{}", value_text(s.value), muted, held)}, 4));
    });
    if (!any) lines.push_back(fit({r.each_instance ? "  no instances yet," : "  OK,", "now unknown" + muted + held}, 2));
  }
  return fmt::format("{}", fmt::join(lines, "\n"));
}

std::string checks_listing(const Checks& checks, double wall) {
  std::vector<std::string> lines;
  for (const auto& s : checks.states()) {
    if (!s.last) {
      lines.push_back(fit({s.cfg.name + ":", s.busy ? "running, no result yet" : "not run yet"}));
      continue;
    }
    const CheckOutcome& o = *s.last;
    lines.push_back(fit({s.cfg.name + ":", std::string(check_status_text(o.status)) + ",",
                         human_duration(wall - o.wall) + " ago" + (s.busy ? ", running" : "") + ":", o.message}));
  }
  if (lines.empty()) return "no checks configured";
  return fmt::format("{}", fmt::join(lines, "\n"));
}

std::string check_reply(const std::string& host, const CheckConfig& check, const CheckOutcome& o) {
  constexpr size_t kDetailLines = 5;
  std::vector<std::string> lines = {
      fit({host + ":", "check " + check.name + ":", std::string(check_status_text(o.status)),
           fmt::format("in {:.2f}s", o.seconds)},
          0),
      fit({o.message})};
  for (size_t i = 0; i < o.output.detail.size() && i < kDetailLines; ++i) lines.push_back(fit({o.output.detail[i]}));
  if (o.output.detail.size() > kDetailLines)
    lines.push_back(fmt::format("({} more lines)", o.output.detail.size() - kDetailLines));
  for (const auto& p : o.output.perfdata)
    lines.push_back(fit({perf_metric(check.name, p.label), "=", (p.value ? format_value(*p.value) : "unknown") + p.unit}, 4));
  if (o.discarded > 0) lines.push_back(fmt::format("({} bytes of output dropped)", o.discarded));
  return fmt::format("{}", fmt::join(lines, "\n"));
}

Presence presence_for(const AlertEngine& engine) {
  std::vector<std::string> crit, warn, flap;
  Severity worst = Severity::ok;
  for (const auto& [name, s] : engine.states()) {
    if (s.flapping) {
      // At least away: a flapping rule is never "OK".
      flap.push_back(name);
      worst = std::max({worst, s.told, Severity::warning});
    } else if (s.severity == Severity::critical) {
      crit.push_back(name);
      worst = Severity::critical;
    } else if (s.severity == Severity::warning) {
      warn.push_back(name);
      worst = std::max(worst, Severity::warning);
    }
  }
  if (worst == Severity::ok) return {Presence::Show::available, "OK"};
  std::vector<std::string> parts;
  if (!crit.empty()) parts.push_back(fmt::format("CRITICAL: {}", fmt::join(crit, ", ")));
  if (!warn.empty()) parts.push_back(fmt::format("WARNING: {}", fmt::join(warn, ", ")));
  if (!flap.empty()) parts.push_back(fmt::format("FLAPPING: {}", fmt::join(flap, ", ")));
  return {worst == Severity::critical ? Presence::Show::dnd : Presence::Show::away,
          fmt::format("{}", fmt::join(parts, "; "))};
}

}  // namespace imwatch::agent
