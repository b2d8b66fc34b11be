// Threshold rules: their syntax, and the alert lifecycle they drive.
//
//   rule = NAME: METRIC OP WARN [crit CRIT] [for DURATION] [clear VALUE] [repeat DURATION]
//
// Fires once the condition has held on every sample for `for`; resolves once
// the value has been on the good side of `clear` (default: WARN) on every
// sample for the same `for` (hysteresis in value and time). Unknown samples
// neither fire nor resolve. See imwatch.conf(5).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"

namespace imwatch::agent {

enum class Op { gt, ge, lt, le };
enum class Severity { ok, warning, critical };

std::string_view op_text(Op op);
std::string_view severity_text(Severity s);  // "OK", "WARNING", "CRITICAL"

struct Rule {
  std::string name;
  std::string metric;
  Op op = Op::gt;
  double warn = 0;
  std::optional<double> crit;
  double for_s = 0;
  std::optional<double> clear;   // default: warn
  std::optional<double> repeat;  // default: [alert] repeat
  Origin origin;

  bool breaches(double value, double threshold) const;
  double clear_value() const { return clear.value_or(warn); }
  // The rule in its canonical one-line form; equal texts mean an unchanged rule.
  std::string canonical() const;
  // What --check-config prints: how the rule is understood.
  std::string explain(double default_repeat) const;
};

// Parses one rule. `metrics` are the known metric names (for the "did you
// mean" list). Returns "" or a message quoting the offending token.
std::string parse_rule(std::string_view text, const std::vector<std::string>& metrics, Rule& out);

// What one evaluation pass found worth telling.
struct Event {
  enum Kind { fired, escalated, deescalated, resolved, reminder, flapping, settled, probe_failing, probe_recovered };
  Kind kind = fired;
  std::string rule;                  // or the probe's name
  Severity severity = Severity::ok;  // after the event
  Severity previous = Severity::ok;
  uint64_t id = 0;  // alert id, 0 for probe events
  std::optional<double> value;
  double threshold = 0;
  std::string metric, op;
  double duration = 0;  // how long the condition held / the alert lasted / the probe failed
  std::string detail;   // probe error text
};

// One message: all the events of one pass (storm control).
struct Notification {
  double wall = 0;
  std::string text;
  std::vector<Event> events;
};

// Parses every `rule =` line of the config; errors as "file:line: message".
std::vector<Rule> compile_rules(const Config& cfg, const std::vector<std::string>& metrics,
                                std::vector<std::string>& errors);

// Builds the one-message text for the events of one pass.
std::string format_notification(const std::string& host, const std::vector<Event>& events);

// Per-rule state. The fields above the line are saved across restarts.
struct RuleState {
  Severity severity = Severity::ok;  // as far as the rule machine is concerned
  uint64_t id = 0;
  double fired_at = 0;       // wall
  double last_notified = 0;  // wall, for reminders
  bool acked = false;
  bool flapping = false;
  Severity told = Severity::ok;  // the state admins were last told
  std::string fingerprint;       // Rule::canonical() it belongs to
  // ---- not saved: restart the timers
  std::optional<double> value;
  std::optional<double> bad_since, crit_since, noncrit_since, good_since;  // monotonic
  std::deque<double> changes;                                              // monotonic
};

struct ProbeHealth {
  int failures = 0;
  bool told_failing = false;  // saved
  double failing_since = 0;   // wall
};

struct AlertSettings {  // defaults: the table of options
  double repeat = default_number("alert.repeat");
  int flap_changes = static_cast<int>(default_number("alert.flap_changes"));
  double flap_window = default_number("alert.flap_window");
};

// Turns samples into events. Owns rule state, alert ids and mutes; knows
// nothing of probes, clocks or transports.
class AlertEngine {
 public:
  void configure(std::vector<Rule> rules, AlertSettings settings);
  const std::vector<Rule>& rules() const { return rules_; }

  // Evaluates every rule on `metric` values from one sample; lookup(metric)
  // returns the value or unknown.
  template <class Lookup>
  void evaluate(std::string_view probe, const Lookup& lookup, double now, double wall);
  void evaluate_rule(size_t index, std::optional<double> value, double now, double wall);
  // After each sample of a probe: "" or its error.
  void probe_result(const std::string& probe, const std::string& error, double wall);
  // Reminders due; call once per pass.
  void remind(double wall);

  // Events found since the last take, for one message.
  std::vector<Event> take_events();
  bool has_events() const { return !events_.empty(); }

  // Chat: mutes and acknowledgements. "" rule means all.
  void mute(const std::string& rule, double until_wall);
  void unmute(const std::string& rule);
  bool muted(const std::string& rule, double wall) const;
  bool ack(uint64_t id);
  const std::map<std::string, double>& mutes() const { return mutes_; }

  // Which probe feeds rule `rule`: set by the daemon after configure().
  void set_metric_owner(size_t rule, std::string probe) { owner_[rule] = std::move(probe); }

  std::map<std::string, RuleState>& states() { return states_; }
  const std::map<std::string, RuleState>& states() const { return states_; }
  std::map<std::string, ProbeHealth>& probes() { return probes_; }
  const std::map<std::string, ProbeHealth>& probes() const { return probes_; }
  uint64_t next_id() const { return next_id_; }
  void set_next_id(uint64_t id) { next_id_ = std::max<uint64_t>(id, 1); }
  // True when state worth saving changed since the last call.
  bool take_dirty();

 private:
  void transition(const Rule& r, RuleState& s, Event::Kind kind, Severity to, double now, double wall, double held);
  Event make_event(const Rule& r, const RuleState& s, Event::Kind kind) const;
  void emit(Event e, double wall);

  std::vector<Rule> rules_;
  std::map<size_t, std::string> owner_;
  AlertSettings settings_;
  std::map<std::string, RuleState> states_;  // by rule name
  std::map<std::string, ProbeHealth> probes_;
  std::map<std::string, double> mutes_;  // rule name or "" (all) -> until, wall
  uint64_t next_id_ = 1;
  std::vector<Event> events_;
  bool dirty_ = false;
};

template <class Lookup>
void AlertEngine::evaluate(std::string_view probe, const Lookup& lookup, double now, double wall) {
  for (size_t i = 0; i < rules_.size(); ++i) {
    auto it = owner_.find(i);
    if (it == owner_.end() || it->second != probe) continue;
    evaluate_rule(i, lookup(rules_[i].metric), now, wall);
  }
}

}  // namespace imwatch::agent
