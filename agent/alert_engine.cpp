#include "agent/alert_engine.h"

#include <algorithm>
#include <array>

namespace imwatch::agent {

namespace {

constexpr std::array<std::string_view, kEventKinds> kKindNames = {
    "fired",         "escalated",       "deescalated", "resolved", "reminder", "flapping", "settled",
    "probe_failing", "probe_recovered", "removed",     "vanished", "test",     "peer_vanished", "peer_back", "audit",
    "held",          "released",        "overrun",     "override_set", "override_reset", "override_dropped",
    "folded",        "dropped",         "converted",
};

// The timers of `for`: each condition must hold again from the next sample.
void reset_timers(RuleState& s) {
  s.bad_since.reset();
  s.crit_since.reset();
  s.noncrit_since.reset();
  s.good_since.reset();
}

// `since`: when `cond` began to hold without a break, unset while it does not.
void track(std::optional<double>& since, bool cond, double now) {
  if (!cond)
    since.reset();
  else if (!since)
    since = now;
}

// Where a known sample stands against a rule's thresholds.
struct Conditions {
  bool bad;   // beyond warn
  bool crit;  // beyond crit
  bool good;  // on the good side of clear
};

// A change of severity, and how long its condition has held.
struct Change {
  Event::Kind kind;
  Severity to;
  double held;
};

// The change a sample calls for from the rule's current severity, once its
// condition has held for the rule's `for`. When two are due the order below
// decides: from ok, critical before warning; from warning, escalation before
// resolution; from critical, resolution before de-escalation.
std::optional<Change> due_change(const Rule& r, const RuleState& s, Conditions c, double now) {
  auto held = [&](const std::optional<double>& since) { return since && now - *since >= r.for_s; };
  auto change = [&](Event::Kind kind, Severity to, const std::optional<double>& since) {
    return std::optional<Change>(Change{kind, to, since ? now - *since : 0.0});
  };
  switch (s.severity) {
    case Severity::ok:
      if (c.crit && held(s.crit_since)) return change(Event::fired, Severity::critical, s.crit_since);
      if (c.bad && held(s.bad_since)) return change(Event::fired, Severity::warning, s.bad_since);
      break;
    case Severity::warning:
      if (c.crit && held(s.crit_since)) return change(Event::escalated, Severity::critical, s.crit_since);
      if (c.good && held(s.good_since)) return change(Event::resolved, Severity::ok, s.good_since);
      break;
    case Severity::critical:
      if (c.good && held(s.good_since)) return change(Event::resolved, Severity::ok, s.good_since);
      if (!c.crit && held(s.noncrit_since)) return change(Event::deescalated, Severity::warning, s.noncrit_since);
      break;
  }
  return std::nullopt;
}

// Moves the instance states of `r` ("disk /var") from `from` into `to`, each
// judged by the new thresholds from its next sample if the rule changed.
void keep_instances(const Rule& r, const std::string& fingerprint, std::map<std::string, RuleState>& from,
                    std::map<std::string, RuleState>& to) {
  const std::string prefix = r.name + " ";
  for (auto it = from.lower_bound(prefix); it != from.end() && it->first.starts_with(prefix);) {
    RuleState s = std::move(it->second);
    if (s.fingerprint != fingerprint) {
      s.fingerprint = fingerprint;
      reset_timers(s);
    }
    to[it->first] = std::move(s);
    it = from.erase(it);
  }
}

}  // namespace

std::string_view kind_name(Event::Kind k) { return kKindNames.at(static_cast<size_t>(k)); }

std::optional<Event::Kind> kind_from_name(std::string_view name) {
  for (size_t i = 0; i < kKindNames.size(); ++i)
    if (kKindNames[i] == name) return static_cast<Event::Kind>(i);
  return std::nullopt;
}

void AlertEngine::configure(std::vector<Rule> rules, AlertSettings settings, const ProbeOf& probe_of) {
  settings_ = settings;
  std::map<std::string, RuleState> kept;
  for (const auto& r : rules) {
    const std::string fingerprint = r.canonical();
    if (r.each_instance) {
      keep_instances(r, fingerprint, states_, kept);
      keep_instances(r, fingerprint, closing_, kept);
      continue;
    }
    RuleState s;
    if (auto it = states_.find(r.name); it != states_.end()) {
      s = std::move(it->second);
      states_.erase(it);
    } else if (auto c = closing_.find(r.name); c != closing_.end()) {
      s = std::move(c->second);  // removed and added back before the pass that would close it
      closing_.erase(c);
    } else {
      s.fingerprint = fingerprint;
    }
    if (s.fingerprint != fingerprint) {
      // The alert stays what it is; the next sample is judged by the new
      // thresholds alone.
      s.fingerprint = fingerprint;
      reset_timers(s);
    }
    kept.emplace(r.name, std::move(s));
  }
  for (auto& [name, s] : states_)
    if (s.open()) closing_[name] = std::move(s);
  states_ = std::move(kept);
  rules_ = std::move(rules);
  owner_.clear();
  for (const auto& r : rules_) owner_.push_back(probe_of ? probe_of(r.metric) : std::string());
  dirty_ = true;
}

void AlertEngine::restore(const std::string& name, const RuleState& saved) {
  auto it = states_.find(name);
  RuleState* s = nullptr;
  const auto rule = std::find_if(rules_.begin(), rules_.end(), [&](const Rule& r) { return r.name == rule_of(name); });
  if (it != states_.end()) {
    s = &it->second;
  } else if (rule != rules_.end() && rule->each_instance && name.size() > rule->name.size()) {
    s = &states_[name];  // an instance: known again at its probe's next sample, or VANISHED
    s->fingerprint = rule->canonical();
  } else if (saved.open()) {
    s = &closing_[name];
  } else {
    return;
  }
  s->severity = saved.severity;
  s->id = saved.id;
  s->fired_at = saved.fired_at;
  s->last_notified = saved.last_notified;
  s->acked = saved.acked;
  s->acked_by = saved.acked_by;
  s->acked_at = saved.acked_at;
  s->flapping = saved.flapping;
  s->told = saved.told;
  s->changes.clear();  // a restored flapping rule starts its window at its first known sample
  if (s->id >= next_id_) next_id_ = s->id + 1;
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

std::string AlertEngine::alert_name(uint64_t id) const {
  for (const auto& [name, s] : states_)
    if (s.severity != Severity::ok && s.id == id) return name;
  return "";
}

bool AlertEngine::ack(uint64_t id, const std::string& by, double wall) {
  for (auto& [name, s] : states_)
    if (s.severity != Severity::ok && s.id == id) {
      s.acked = true;
      s.acked_by = by;
      s.acked_at = wall;
      dirty_ = true;
      return true;
    }
  return false;
}

Event AlertEngine::make_event(const Rule& r, const std::string& name, const RuleState& s, Event::Kind kind) const {
  Event e;
  e.kind = kind;
  e.rule = name;
  e.severity = s.severity;
  e.previous = s.told;
  e.id = s.id;
  e.value = s.value;
  e.metric = r.metric;
  e.op = std::string(op_text(r.op));
  e.threshold = s.severity == Severity::critical && r.crit ? *r.crit : r.warn;
  if (r.is_check()) {
    e.check = true;
    e.detail = s.message;
  }
  return e;
}

void AlertEngine::emit(Event e, double wall) {
  dirty_ = true;
  // Probe events are muted only by "mute all".
  bool probe = e.kind == Event::probe_failing || e.kind == Event::probe_recovered;
  if (probe ? muted("", wall) : muted(std::string(rule_of(e.rule)), wall)) return;
  events_.push_back(std::move(e));
}

void AlertEngine::transition(const Rule& r, const std::string& name, RuleState& s, Event::Kind kind, Severity to,
                             double now, double wall, double held) {
  s.severity = to;
  if (kind == Event::fired) {
    s.id = next_id_++;
    s.fired_at = wall;
    s.acked = false;
  }
  dirty_ = true;
  if (this->held(r.name, wall)) return;  // told at the end of the hold (catch_up), if it still stands
  s.changes.push_back(now);
  while (!s.changes.empty() && s.changes.front() <= now - settings_.flap_window) s.changes.pop_front();
  if (!s.flapping && static_cast<int>(s.changes.size()) > settings_.flap_changes) {
    s.flapping = true;
    Event e = make_event(r, name, s, Event::flapping);
    e.duration = settings_.flap_window;
    e.detail = std::to_string(s.changes.size());
    emit(std::move(e), wall);
    return;
  }
  if (s.flapping) return;  // quiet until it settles
  Event e = make_event(r, name, s, kind);
  e.duration = kind == Event::resolved ? wall - s.fired_at : held;
  emit(std::move(e), wall);
  s.told = to;
  s.last_notified = wall;
}

void AlertEngine::settle(const Rule& r, const std::string& name, RuleState& s, double wall) {
  s.flapping = false;
  s.changes.clear();
  emit(make_event(r, name, s, Event::settled), wall);
  s.told = s.severity;
  s.last_notified = wall;
}

void AlertEngine::evaluate_rule(size_t index, std::optional<double> value, double now, double wall) {
  const Rule& r = rules_[index];
  evaluate_state(r, r.name, states_[r.name], value, now, wall);
}

void AlertEngine::evaluate_instance(size_t index, const std::string& instance, std::optional<double> value, double now,
                                    double wall) {
  const Rule& r = rules_[index];
  const std::string name = instance_key(r.name, instance);
  auto [it, fresh] = states_.try_emplace(name);
  if (fresh) it->second.fingerprint = r.canonical();
  evaluate_state(r, name, it->second, value, now, wall);
}

void AlertEngine::forget_vanished(size_t index, std::span<const std::string> instances, double wall) {
  const Rule& r = rules_[index];
  const std::string prefix = r.name + " ";
  for (auto it = states_.lower_bound(prefix); it != states_.end() && it->first.starts_with(prefix);) {
    const std::string_view instance = std::string_view(it->first).substr(prefix.size());
    if (std::find(instances.begin(), instances.end(), instance) != instances.end()) {
      ++it;
      continue;
    }
    const RuleState& s = it->second;
    if (s.open()) {
      Event e = make_event(r, it->first, s, Event::vanished);
      e.was_flapping = s.flapping;
      e.duration = s.fired_at > 0 ? wall - s.fired_at : 0;
      emit(std::move(e), wall);
    }
    dirty_ = true;
    it = states_.erase(it);
  }
}

void AlertEngine::evaluate_state(const Rule& r, const std::string& name, RuleState& s, std::optional<double> value,
                                 double now, double wall) {
  s.value = value;
  if (!value) {
    // Unknown is neither good nor bad: no fire, no resolve, no settling, and
    // a run of samples that `for` asks for starts again after the gap.
    reset_timers(s);
    return;
  }
  // Flapping ends once the rule has been stable for a whole window; a rule
  // restored flapping (no changes known) starts that window now.
  if (s.flapping && !held(r.name, wall)) {
    if (s.changes.empty())
      s.changes.push_back(now);
    else if (now - s.changes.back() >= settings_.flap_window)
      settle(r, name, s, wall);
  }

  const double v = *value;
  const Conditions c{
      .bad = r.breaches(v, r.warn), .crit = r.crit && r.breaches(v, *r.crit), .good = !r.breaches(v, r.clear_value())};
  track(s.bad_since, c.bad, now);
  track(s.crit_since, c.crit, now);
  track(s.noncrit_since, !c.crit, now);
  track(s.good_since, c.good, now);
  if (auto change = due_change(r, s, c, now))
    transition(r, name, s, change->kind, change->to, now, wall, change->held);
}

void AlertEngine::remind(double wall) {
  for (auto& [name, s] : closing_) {
    Event e;
    e.kind = Event::removed;
    e.rule = name;
    e.severity = s.severity;
    e.previous = s.told;
    e.id = s.id;
    e.was_flapping = s.flapping;
    e.duration = s.fired_at > 0 ? wall - s.fired_at : 0;
    emit(std::move(e), wall);
  }
  closing_.clear();
  end_holds(wall);
  catch_up(wall);
  for (const auto& r : rules_) {
    if (!r.each_instance) {
      remind_state(r, r.name, states_[r.name], wall);
      continue;
    }
    const std::string prefix = r.name + " ";
    for (auto it = states_.lower_bound(prefix); it != states_.end() && it->first.starts_with(prefix); ++it)
      remind_state(r, it->first, it->second, wall);
  }
}

void AlertEngine::remind_state(const Rule& r, const std::string& name, RuleState& s, double wall) {
  double every = r.repeat.value_or(settings_.repeat);
  if (s.severity == Severity::ok || s.acked || s.flapping || every <= 0 || held(r.name, wall)) return;
  if (wall - s.last_notified < every) return;
  s.last_notified = wall;
  Event e = make_event(r, name, s, Event::reminder);
  e.duration = wall - s.fired_at;
  emit(std::move(e), wall);
}

void AlertEngine::hold(Hold h, double wall) {
  dirty_ = true;
  auto it = holds_.find(h.key);
  if (it != holds_.end()) {
    h.overrun_told = it->second.overrun_told && h.max_until == it->second.max_until;
    it->second = std::move(h);
    return;
  }
  Event e;
  e.kind = Event::held;
  e.rule = h.key;
  e.detail = h.reason;
  e.rules = h.rules;
  e.duration = h.until ? std::max(0.0, *h.until - wall) : 0;
  events_.push_back(std::move(e));  // never muted: a mute must not hide that alerts are held
  holds_.emplace(h.key, std::move(h));
}

bool AlertEngine::release(const std::string& key, const std::string& why) {
  auto it = holds_.find(key);
  if (it == holds_.end()) return false;
  Event e;
  e.kind = Event::released;
  e.rule = key;
  e.detail = it->second.reason + " " + why;
  e.rules = it->second.rules;
  events_.push_back(std::move(e));
  holds_.erase(it);
  dirty_ = true;
  return true;
}

const Hold* AlertEngine::hold_of(const std::string& rule, double wall) const {
  const Hold* best = nullptr;
  for (const auto& [key, h] : holds_) {
    if (!h.covers(rule) || (h.until && *h.until <= wall)) continue;
    if (!best || (best->until && (!h.until || *h.until > *best->until))) best = &h;
  }
  return best;
}

bool AlertEngine::held(const std::string& rule, double wall) const { return hold_of(rule, wall) != nullptr; }

// Holds whose time is up end; those past their --max say so once.
void AlertEngine::end_holds(double wall) {
  std::vector<std::string> done;
  for (auto& [key, h] : holds_) {
    if (h.until && *h.until <= wall) {
      done.push_back(key);
      continue;
    }
    if (h.max_until && *h.max_until <= wall && !h.overrun_told) {
      h.overrun_told = true;
      dirty_ = true;
      Event e;
      e.kind = Event::overrun;
      e.rule = key;
      e.detail = h.reason;
      e.rules = h.rules;
      e.duration = wall - *h.max_until;
      events_.push_back(std::move(e));
    }
  }
  for (const auto& key : done) release(key, "ended");
}

// Each rule no longer held whose state differs from what admins were last
// told says it now. Outside holds the two are always equal (a flapping rule
// excepted, which settles on its own), so this costs a comparison per rule.
void AlertEngine::catch_up(double wall) {
  for (const auto& r : rules_) {
    if (held(r.name, wall)) continue;
    if (!r.each_instance) {
      catch_up_state(r, r.name, states_[r.name], wall);
      continue;
    }
    const std::string prefix = r.name + " ";  // every instance: "disk /var"
    for (auto it = states_.lower_bound(prefix); it != states_.end() && it->first.starts_with(prefix); ++it)
      catch_up_state(r, it->first, it->second, wall);
  }
}

void AlertEngine::catch_up_state(const Rule& r, const std::string& name, RuleState& s, double wall) {
  if (s.flapping || s.severity == s.told) return;
  Event::Kind kind = s.told == Severity::ok        ? Event::fired
                     : s.severity == Severity::ok  ? Event::resolved
                     : s.severity > s.told         ? Event::escalated
                                                   : Event::deescalated;
  Event e = make_event(r, name, s, kind);
  e.duration = kind == Event::fired || kind == Event::resolved ? wall - s.fired_at : 0;
  emit(std::move(e), wall);
  s.told = s.severity;
  s.last_notified = wall;
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

}  // namespace imwatch::agent
