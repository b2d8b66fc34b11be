#include "agent/alert_engine.h"

#include <array>

namespace imwatch::agent {

namespace {

constexpr std::array<std::string_view, kEventKinds> kKindNames = {
    "fired",         "escalated",       "deescalated", "resolved", "reminder", "flapping", "settled",
    "probe_failing", "probe_recovered", "removed",     "test",     "folded",   "dropped",  "converted",
};

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
      s.bad_since.reset();
      s.crit_since.reset();
      s.noncrit_since.reset();
      s.good_since.reset();
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
  if (it != states_.end()) {
    s = &it->second;
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

void AlertEngine::settle(const Rule& r, RuleState& s, double wall) {
  s.flapping = false;
  s.changes.clear();
  emit(make_event(r, s, Event::settled), wall);
  s.told = s.severity;
  s.last_notified = wall;
}

void AlertEngine::evaluate_rule(size_t index, std::optional<double> value, double now, double wall) {
  const Rule& r = rules_[index];
  RuleState& s = states_[r.name];

  s.value = value;
  if (!value) {
    // Unknown is neither good nor bad: no fire, no resolve, no settling, and
    // a run of samples that `for` asks for starts again after the gap.
    s.bad_since.reset();
    s.crit_since.reset();
    s.noncrit_since.reset();
    s.good_since.reset();
    return;
  }
  // Flapping ends once the rule has been stable for a whole window; a rule
  // restored flapping (no changes known) starts that window now.
  if (s.flapping) {
    if (s.changes.empty())
      s.changes.push_back(now);
    else if (now - s.changes.back() >= settings_.flap_window)
      settle(r, s, wall);
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

}  // namespace imwatch::agent
