// [check.NAME]: monitoring plugins on their schedules, and what each run
// means. The runner (agent/check_runner.h) runs; interpret() turns a run into
// a status and a message, as the Nagios plugin API defines them:
//
//   exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; any other exit, a signal,
//   a timeout or a plugin that cannot be started: UNKNOWN, with the reason.
//
// What the status does is the alert engine's: a check is a rule (see
// check_rule() in agent/rule.h), whose value is the status (unknown for
// UNKNOWN), and its perfdata are metrics check.NAME.LABEL; the daemon feeds
// both to the engine and the history after each run.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "agent/check_runner.h"
#include "agent/config.h"
#include "agent/perfdata.h"

namespace imwatch::agent {

enum class CheckStatus { ok, warning, critical, unknown };
std::string_view check_status_text(CheckStatus s);  // "OK", ..., "UNKNOWN"
// The status as the value of the metric check.NAME: 0, 1, 2, or unknown.
std::optional<double> status_value(CheckStatus s);

struct CheckOutcome {
  CheckStatus status = CheckStatus::unknown;
  std::string message;  // the first line, or why the run said nothing (UNKNOWN)
  PluginOutput output;  // the parsed output (long text, perfdata)
  size_t discarded = 0;  // bytes of output past the cap
  double seconds = 0;   // how long it ran
  double wall = 0;      // when it ended
};

// A run's meaning. `timeout` is the one it ran with (for the message).
CheckOutcome interpret(const RunResult& r, double timeout);

// Perfdata metrics per check: a plugin that makes up new labels on every run
// must not grow the history without end.
constexpr size_t kMaxCheckMetrics = 16;

class Checks {
 public:
  using OnResult = std::function<void(const CheckConfig& check, const CheckOutcome& outcome)>;
  using Then = std::function<void(const CheckConfig& check, const CheckOutcome& outcome)>;

  struct State {
    CheckConfig cfg;
    std::optional<CheckOutcome> last;
    std::vector<std::string> metrics;  // the check.NAME.LABEL seen so far, at most kMaxCheckMetrics
    bool busy = false;                 // running or queued
    std::vector<Then> waiting;         // `check NAME` from the chat, told when this run ends
    EventLoop::JobId job = 0;
  };

  Checks(EventLoop& loop, Clock& clock, RunnerLimits limits = {});

  // The checks of the config, each run every interval from now on (the
  // first at once). Again on reload: a check kept by name keeps its last
  // outcome and a run in progress; one removed is forgotten. `on_result` is
  // called after every run of a configured check.
  void configure(const std::vector<CheckConfig>& checks, OnResult on_result);
  // Runs `name` now (or joins the run in progress) and calls `then` when it
  // ends; false when no such check is configured, or too many wait already.
  bool run_now(const std::string& name, Then then);

  const std::vector<State>& states() const { return states_; }
  const State* find(const std::string& name) const;
  // Whether `metric` (check.NAME.LABEL) may be kept: known, or new and room.
  bool admit_metric(const std::string& name, const std::string& metric);

 private:
  void start(const std::string& name);
  void finished(const std::string& name, RunResult r, double timeout);
  State* find_mut(const std::string& name);

  EventLoop& loop_;
  Clock& clock_;
  CheckRunner runner_;
  std::vector<State> states_;
  OnResult on_result_;
};

}  // namespace imwatch::agent
