#include "agent/checks.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

constexpr size_t kMaxWaiting = 8;  // chat requests joined to one run

// The first line, or a note that there was none.
std::string first_line(const PluginOutput& o) { return o.message.empty() ? "(no output)" : o.message; }

}  // namespace

std::string_view check_status_text(CheckStatus s) {
  switch (s) {
    case CheckStatus::ok: return "OK";
    case CheckStatus::warning: return "WARNING";
    case CheckStatus::critical: return "CRITICAL";
    case CheckStatus::unknown: break;
  }
  return "UNKNOWN";
}

std::optional<double> status_value(CheckStatus s) {
  if (s == CheckStatus::unknown) return std::nullopt;  // not 0: UNKNOWN is not OK
  return static_cast<double>(static_cast<int>(s));
}

CheckOutcome interpret(const RunResult& r, double timeout) {
  CheckOutcome o;
  o.seconds = r.seconds;
  o.discarded = r.discarded;
  if (!r.started_error.empty()) {
    o.message = "cannot run the plugin: " + r.started_error;
    return o;
  }
  o.output = parse_plugin_output(r.output);
  if (r.timed_out) {
    o.message = "timed out after " + format_duration(timeout);
  } else if (r.signal != 0) {
    o.message = fmt::format("killed by {}: {}", signal_name(r.signal), first_line(o.output));
  } else if (r.exit_code >= 0 && r.exit_code <= 3) {
    o.status = static_cast<CheckStatus>(r.exit_code);
    o.message = first_line(o.output);
  } else {
    o.message = fmt::format("exit status {}: {}", r.exit_code, first_line(o.output));
  }
  return o;
}

Checks::Checks(EventLoop& loop, Clock& clock, RunnerLimits limits)
    : loop_(loop), clock_(clock), runner_(loop, clock, limits) {}

const Checks::State* Checks::find(const std::string& name) const {
  auto it = std::find_if(states_.begin(), states_.end(), [&](const State& s) { return s.cfg.name == name; });
  return it == states_.end() ? nullptr : &*it;
}

Checks::State* Checks::find_mut(const std::string& name) { return const_cast<State*>(find(name)); }

void Checks::configure(const std::vector<CheckConfig>& checks, OnResult on_result) {
  on_result_ = std::move(on_result);
  std::vector<State> next;
  for (const auto& c : checks) {
    State s;
    if (State* old = find_mut(c.name)) {
      loop_.cancel(old->job);
      s = std::move(*old);
      if (s.cfg.command != c.command) s.metrics.clear();  // another plugin: other labels
    }
    s.cfg = c;
    s.job = loop_.add_job(c.interval, [this, name = c.name] { start(name); });
    next.push_back(std::move(s));
  }
  for (auto& old : states_)
    if (!std::any_of(next.begin(), next.end(), [&](const State& s) { return s.cfg.name == old.cfg.name; }))
      loop_.cancel(old.job);
  states_ = std::move(next);
}

bool Checks::run_now(const std::string& name, Then then) {
  State* s = find_mut(name);
  if (!s || s->waiting.size() >= kMaxWaiting) return false;
  s->waiting.push_back(std::move(then));
  if (!s->busy) start(name);
  return true;
}

void Checks::start(const std::string& name) {
  State* s = find_mut(name);
  if (!s) return;
  if (s->busy) {
    // The last run has not ended (or waits for a free slot): no pile-up.
    spdlog::debug("check {}: still running, this turn is skipped", name);
    return;
  }
  s->busy = true;
  const double timeout = s->cfg.timeout;
  runner_.run(s->cfg.argv, timeout, [this, name, timeout](RunResult r) { finished(name, std::move(r), timeout); });
}

void Checks::finished(const std::string& name, RunResult r, double timeout) {
  State* s = find_mut(name);
  if (!s) return;  // removed by a reload while it ran
  CheckOutcome o = interpret(r, timeout);
  o.wall = clock_.wall();
  s->busy = false;
  // The journal keeps each change of state (and the first), not every run.
  if (!s->last || s->last->status != o.status)
    spdlog::info("check {}: {}: {}", name, check_status_text(o.status), o.message);
  else
    spdlog::debug("check {}: {} in {:.3f}s: {}", name, check_status_text(o.status), o.seconds, o.message);
  s->last = o;
  auto waiting = std::move(s->waiting);
  s->waiting.clear();
  const CheckConfig cfg = s->cfg;  // the callbacks may reconfigure
  if (on_result_) on_result_(cfg, o);
  for (auto& then : waiting) then(cfg, o);
}

bool Checks::admit_metric(const std::string& name, const std::string& metric) {
  State* s = find_mut(name);
  if (!s) return false;
  if (std::find(s->metrics.begin(), s->metrics.end(), metric) != s->metrics.end()) return true;
  if (s->metrics.size() >= kMaxCheckMetrics) return false;
  s->metrics.push_back(metric);
  return true;
}

}  // namespace imwatch::agent
