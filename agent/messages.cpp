#include "agent/messages.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "agent/report.h"

namespace imwatch::agent {

namespace {

std::string value_text(const std::optional<double>& v) { return v ? format_value(*v) : "unknown"; }

std::string id_text(uint64_t id) { return id ? fmt::format(" #{}", id) : ""; }

// ", held 5m" when the condition had to hold (a rule with `for`).
std::string held(double seconds) { return seconds >= 1 ? ", held " + human_duration(seconds) : ""; }

// "mem_used_pct 97 > 95"
std::string condition(const Event& e) {
  return fmt::format("{} {} {} {}", e.metric, value_text(e.value), e.op, format_value(e.threshold));
}

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
    case Event::probe_failing: return fmt::format("PROBE {} failing: {}", e.rule, e.detail);
    case Event::probe_recovered:
      return fmt::format("PROBE {} recovered after failing {}", e.rule, human_duration(e.duration));
    case Event::test: return "test alert from imwatch. If you read this, alerts reach you.";
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
  for (const auto& r : engine.rules()) {
    auto it = engine.states().find(r.name);
    if (it == engine.states().end() || !it->second.open()) continue;
    const RuleState& s = it->second;
    std::string acked = s.acked ? ", acked" : "";
    if (s.flapping) {
      // Quiet, not gone: the last state admins were told still stands.
      lines.push_back(
          fit({fmt::format("#{} FLAPPING {}:", s.id, r.name), fmt::format("{} {},", r.metric, value_text(s.value)),
               fmt::format("last told {}{}", severity_text(s.told), acked)}));
      continue;
    }
    double threshold = s.severity == Severity::critical && r.crit ? *r.crit : r.warn;
    lines.push_back(
        fit({fmt::format("#{} {} {}:", s.id, severity_text(s.severity), r.name),
             fmt::format("{} {} {} {},", r.metric, value_text(s.value), op_text(r.op), format_value(threshold)),
             fmt::format("firing {}{}", human_duration(wall - s.fired_at), acked)}));
  }
  for (const auto& [probe, h] : engine.probes())
    if (h.told_failing) lines.push_back(fit({"probe " + probe, "failing " + human_duration(wall - h.failing_since)}));
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
    auto it = engine.states().find(r.name);
    std::string state = "OK";
    std::optional<double> value;
    if (it != engine.states().end()) {
      state = it->second.flapping ? fmt::format("FLAPPING, last told {}", severity_text(it->second.told))
                                  : std::string(severity_text(it->second.severity));
      value = it->second.value;
    }
    lines.push_back(fit(rule_parts(r), 4));
    if (editor) override_lines(r, *editor, wall, lines);
    std::vector<std::string> parts{fmt::format("  {},", state),
                                   fmt::format("now {}{}", value_text(value), engine.muted(r.name, wall) ? ", muted" : "")};
    if (const Hold* h = engine.hold_of(r.name, wall))
      parts.back() += ", held " + (h->until ? human_duration(*h->until - wall, Rounding::up) + " more" : "while " + h->reason);
    lines.push_back(fit(parts, 2));
  }
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
