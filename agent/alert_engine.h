// The alert engine: turns samples into events. Owns rule state, alert ids
// and mutes; knows nothing of clocks, transports or words (the words are
// agent/messages.h).
//
// Across a reload (configure() again): an unchanged rule keeps everything; a
// rule whose definition changed under the same name keeps its alert (id,
// ack, fired_at, severity, what admins were told) and is judged by the new
// thresholds from the next sample on (its timers restart); a rule removed
// while its alert is open is closed with one REMOVED event at the next pass.
//
// Across a restart (restore() from the state file): the same, and nothing
// new is said: a rule still bad stays silent, a rule now good resolves as
// usual, reminders fall due as before. A flapping rule stays flapping (the
// admins were told "quiet until it settles") and settles once it has been
// stable for a whole flap window counted from its first known sample after
// the restart. Nothing is ever said about a value that is unknown.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/rule.h"

namespace imwatch::agent {

// What one evaluation pass found worth telling. Structured until the edge:
// agent/messages.h turns events into words.
struct Event {
  enum Kind {
    fired,
    escalated,
    deescalated,
    resolved,
    reminder,
    flapping,
    settled,
    probe_failing,
    probe_recovered,
    removed,  // the rule was removed (reload) while its alert was open
    vanished,  // the instance (a mount) of a per-instance rule is gone while its alert was open
    test,     // --test-alert
    // Made by the fleet's peer watch (agent/peer_watch.h), never by the engine:
    peer_vanished,  // rule: the peer's nick; value: last seen (wall); duration: its uptime then (-1 unknown)
    peer_back,      // rule: the peer's nick; duration: how long it was away
    audit,          // who did what (ack, mute, unmute): the line in `detail`
    // Holds and overrides (agent/alert_engine.h, agent/overrides.h):
    held,     // a hold began (maintenance window, imwatch run --mute): rule is its key
    released, // a hold ended: detail says why
    overrun,  // a hold outlived its --max
    override_set,      // `set`: rule, detail the fields, who
    override_reset,    // `reset`: rule, who
    override_dropped,  // an override no longer applies: rule, detail why
    // Made by the outbox, never by the engine:
    folded,     // alerts that fired and resolved while undelivered
    dropped,    // notifications dropped past outbox_max
    converted,  // a line of a version 1 outbox file: its text only
  };
  Kind kind = fired;
  std::string rule;                  // or the probe's name
  Severity severity = Severity::ok;  // after the event
  Severity previous = Severity::ok;  // what admins were told before it
  uint64_t id = 0;                   // alert id, 0 for probe events
  std::optional<double> value;
  double threshold = 0;
  std::string metric, op;
  // fired, escalated, de-escalated: how long the condition held; resolved,
  // reminder, removed: how long the alert has been open; flapping: the
  // window; probe_recovered: how long the probe failed.
  double duration = 0;
  bool was_flapping = false;  // removed, vanished: the rule was flapping
  // probe error text; flapping: the number of changes; a check: its
  // message; held, released: the reason
  std::string detail;
  bool check = false;              // the rule is a [check.NAME]: detail is what the plugin said
  std::vector<std::string> rules;  // held, released, overrun: the rules held (empty: all)
  std::string who;                 // override_set, override_reset: who did it
  // fired, escalated: " ▁▂▄▇█", the metric's last 30 minutes (agent/history.h),
  // filled by the daemon before the message goes out; "" when unknown.
  std::string trend;
};
inline constexpr int kEventKinds = Event::converted + 1;

// "fired", "probe_failing", ...: how the outbox file names a kind.
std::string_view kind_name(Event::Kind k);
std::optional<Event::Kind> kind_from_name(std::string_view name);

// One message: all the events of one pass (storm control), from `host`.
struct Notification {
  double wall = 0;
  std::string host;
  std::vector<Event> events;
  // A bare JID not to send it to: whoever did what an audit line tells
  // (kept in memory only; after a restart she gets it too).
  std::string except = {};
};

// Per-rule state. The fields above the line are saved across restarts.
struct RuleState {
  Severity severity = Severity::ok;  // as far as the rule machine is concerned
  uint64_t id = 0;
  double fired_at = 0;       // wall
  double last_notified = 0;  // wall, for reminders
  bool acked = false;
  std::string acked_by;  // who acked it (the local part of an admin's JID), or "" unknown
  double acked_at = 0;   // wall
  bool flapping = false;
  Severity told = Severity::ok;  // the state admins were last told
  std::string fingerprint;       // Rule::canonical() it belongs to
  // ---- not saved: restart the timers
  std::optional<double> value;
  std::string message;  // a check's: what the plugin said last ("" before its first run)
  std::optional<double> bad_since, crit_since, noncrit_since, good_since;  // monotonic
  std::deque<double> changes;                                              // monotonic

  // An alert admins know of: firing, or quiet because flapping.
  bool open() const { return severity != Severity::ok || flapping; }
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

// Rules held: they are judged as usual, but nothing about them is said
// while the hold lasts (no fire, resolve, reminder, flapping); when it ends
// each says where it stands then, if that differs from what admins were
// last told (held, never lost). So an alert that fired before the hold and
// resolved during it is told RESOLVED at the end, one that fired and
// resolved within it is never told, one still bad at the end fires then.
// Flapping is not counted while held: planned work makes values bounce.
// One mechanism for maintenance windows (agent/maintenance.h) and
// `imwatch run --mute`.
struct Hold {
  std::string key;                      // "maintenance:backups", "run:1234"
  std::vector<std::string> rules;       // empty: all
  std::optional<double> until;          // wall; none: until released
  std::string reason;                   // "maintenance backups", "imwatch run backup.sh"
  std::optional<double> max_until;      // wall: past it, one OVERRUN (run --mute --max)
  bool overrun_told = false;
  int pid = 0;                          // run --mute: the client's process and
  uint64_t pid_start = 0;               // its start time (/proc/PID/stat field 22)
  std::string who;                      // who asked, for the team ("root", an admin's JID)

  bool covers(const std::string& rule) const {
    return rules.empty() || std::find(rules.begin(), rules.end(), rule) != rules.end();
  }
};

// Which probe feeds a metric: its name, or "" for none.
using ProbeOf = std::function<std::string(const std::string& metric)>;

class AlertEngine {
 public:
  // Everything the engine needs, in one call: the rules, the settings, and
  // which probe feeds each rule. Again on reload: see the top of this file.
  void configure(std::vector<Rule> rules, AlertSettings settings, const ProbeOf& probe_of);
  const std::vector<Rule>& rules() const { return rules_; }
  const AlertSettings& settings() const { return settings_; }
  // The probe that feeds rule `index` ("" for none).
  const std::string& probe_of(size_t index) const { return owner_.at(index); }

  // Evaluates every rule fed by `probe` on one of its samples; lookup(metric)
  // returns the value or unknown. Rules over every instance are left to
  // evaluate_instances().
  template <class Lookup>
  void evaluate(std::string_view probe, const Lookup& lookup, double now, double wall);
  void evaluate_rule(size_t index, std::optional<double> value, double now, double wall);

  // Rules over a labelled family without an instance (Rule::each_instance,
  // "disk: fs_used_pct > 90") fed by `probe`: each instance has its own
  // state, alert and id, named "RULE INSTANCE" ("disk /var").
  // value(metric, k) is the value of `metric` for instances[k]. An
  // instance no longer there is forgotten; one whose alert was open is
  // closed with a VANISHED event.
  template <class Value>
  void evaluate_instances(std::string_view probe, std::span<const std::string> instances, const Value& value,
                          double now, double wall);
  void evaluate_instance(size_t index, const std::string& instance, std::optional<double> value, double now,
                         double wall);
  void forget_vanished(size_t index, std::span<const std::string> instances, double wall);

  // f(name, state) for every state of rule `r`: its own, or one per
  // instance ("disk /var") for a rule over every instance.
  template <class F>
  void each_state(const Rule& r, F&& f) const;
  // A check's message, before its status is evaluated: the events of that
  // evaluation carry it.
  void set_message(const std::string& rule, std::string message) { states_[rule].message = std::move(message); }
  // After each sample of a probe: "" or its error.
  void probe_result(const std::string& probe, const std::string& error, double wall);
  // Once per pass: rules removed while open are closed, reminders due go out.
  void remind(double wall);

  // An event from outside the rules (an override set from chat), told
  // with the next pass's message; never muted.
  void announce(Event e) { events_.push_back(std::move(e)); }

  // Events found since the last take, for one message.
  std::vector<Event> take_events();
  bool has_events() const { return !events_.empty(); }

  // Chat: mutes and acknowledgements. "" rule means all.
  void mute(const std::string& rule, double until_wall);
  void unmute(const std::string& rule);
  bool muted(const std::string& rule, double wall) const;
  // `by` and `wall`: who acked it and when, for `alerts` ("acked by alice 5m ago").
  bool ack(uint64_t id, const std::string& by = "", double wall = 0);
  // The name of firing alert `id` ("memory", "disk /var"), or "".
  std::string alert_name(uint64_t id) const;
  const std::map<std::string, double>& mutes() const { return mutes_; }

  // Holds (see Hold). hold() adds one (HELD is said) or updates one of the
  // same key (nothing said); release() ends one (RELEASED, `why`), and what
  // it held speaks at the next pass. Holds whose `until` passed end at the
  // next pass, and those past `max_until` say OVERRUN once.
  void hold(Hold h, double wall);
  bool release(const std::string& key, const std::string& why);
  bool held(const std::string& rule, double wall) const;
  // The hold that keeps `rule` quiet longest, or nullptr.
  const Hold* hold_of(const std::string& rule, double wall) const;
  const std::map<std::string, Hold>& holds() const { return holds_; }
  // After a restart: the holds in force when the agent stopped, said nothing
  // of (they were told when they began).
  void restore_holds(const std::vector<Hold>& holds) {
    for (const auto& h : holds) holds_[h.key] = h;
  }

  // A rule's saved state after a restart, into an engine already configured
  // with the current rules: kept by name (a changed definition keeps its
  // alert, as on reload); a rule no longer configured whose alert was open
  // is closed with REMOVED at the next pass.
  void restore(const std::string& name, const RuleState& saved);

  std::map<std::string, RuleState>& states() { return states_; }
  const std::map<std::string, RuleState>& states() const { return states_; }
  std::map<std::string, ProbeHealth>& probes() { return probes_; }
  const std::map<std::string, ProbeHealth>& probes() const { return probes_; }
  uint64_t next_id() const { return next_id_; }
  void set_next_id(uint64_t id) { next_id_ = std::max<uint64_t>(id, 1); }
  // True when state worth saving changed since the last call.
  bool take_dirty();

 private:
  void evaluate_state(const Rule& r, const std::string& name, RuleState& s, std::optional<double> value, double now,
                      double wall);
  void transition(const Rule& r, const std::string& name, RuleState& s, Event::Kind kind, Severity to, double now,
                  double wall, double held);
  void settle(const Rule& r, const std::string& name, RuleState& s, double wall);
  Event make_event(const Rule& r, const std::string& name, const RuleState& s, Event::Kind kind) const;
  void remind_state(const Rule& r, const std::string& name, RuleState& s, double wall);
  void emit(Event e, double wall);
  void end_holds(double wall);
  void catch_up(double wall);
  void catch_up_state(const Rule& r, const std::string& name, RuleState& s, double wall);

  std::vector<Rule> rules_;
  std::vector<std::string> owner_;  // probe of rules_[i]
  AlertSettings settings_;
  std::map<std::string, RuleState> states_;   // by rule name
  std::map<std::string, RuleState> closing_;  // removed while open: REMOVED at the next pass
  std::map<std::string, ProbeHealth> probes_;
  std::map<std::string, double> mutes_;  // rule name or "" (all) -> until, wall
  std::map<std::string, Hold> holds_;    // by key
  uint64_t next_id_ = 1;
  std::vector<Event> events_;
  bool dirty_ = false;
};

// "disk /var": the state of rule `rule` for one instance.
inline std::string instance_key(std::string_view rule, std::string_view instance) {
  return std::string(rule) + " " + std::string(instance);
}
// "disk /var" -> "disk": the rule a state or an event belongs to.
inline std::string_view rule_of(std::string_view name) { return name.substr(0, name.find(' ')); }

template <class Lookup>
void AlertEngine::evaluate(std::string_view probe, const Lookup& lookup, double now, double wall) {
  for (size_t i = 0; i < rules_.size(); ++i)
    if (owner_[i] == probe && !rules_[i].each_instance) evaluate_rule(i, lookup(rules_[i].metric), now, wall);
}

template <class Value>
void AlertEngine::evaluate_instances(std::string_view probe, std::span<const std::string> instances,
                                     const Value& value, double now, double wall) {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (owner_[i] != probe || !rules_[i].each_instance) continue;
    for (size_t k = 0; k < instances.size(); ++k)
      evaluate_instance(i, instances[k], value(rules_[i].metric, k), now, wall);
    forget_vanished(i, instances, wall);
  }
}

template <class F>
void AlertEngine::each_state(const Rule& r, F&& f) const {
  if (!r.each_instance) {
    if (auto it = states_.find(r.name); it != states_.end()) f(it->first, it->second);
    return;
  }
  const std::string prefix = r.name + " ";
  for (auto it = states_.lower_bound(prefix); it != states_.end() && it->first.starts_with(prefix); ++it)
    f(it->first, it->second);
}

}  // namespace imwatch::agent
