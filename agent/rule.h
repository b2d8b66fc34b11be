// Threshold rules: their syntax and what a rule means.
//
//   rule = NAME: METRIC OP WARN [crit CRIT] [for DURATION] [clear VALUE] [repeat DURATION]
//
// Fires once the condition has held on every sample for `for`; resolves once
// the value has been on the good side of `clear` (default: WARN) on every
// sample for the same `for` (hysteresis in value and time). Unknown samples
// neither fire nor resolve. See imwatch.conf(5). The engine that runs rules
// is agent/alert_engine.h; the words it says are agent/messages.h.
#pragma once

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

// 1.50 -> "1.5", 3 -> "3", 1234.567 -> "1234.57": thresholds and values as
// rules and messages write them; +inf -> "never" (fs_full_in_hours of a
// filesystem that is not filling).
std::string format_value(double v);

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
  // A labelled family without an instance ("fs_used_pct"): the rule
  // applies to every instance, each with its own alert (agent/alert_engine.h).
  bool each_instance = false;
  // A [check.NAME] (agent/checks.h) is a rule too: its metric check.NAME is
  // the plugin's status (0 OK, 1 WARNING, 2 CRITICAL, unknown for UNKNOWN),
  // `>= 1 crit 2`, and `command` its command line as written ("" for a
  // threshold rule).
  std::string command;
  bool is_check() const { return !command.empty(); }

  bool breaches(double value, double threshold) const;
  double clear_value() const { return clear.value_or(warn); }
  // The rule in its canonical one-line form; equal texts mean an unchanged rule.
  std::string canonical() const;
  // What --check-config prints: how the rule is understood.
  std::string explain(double default_repeat) const;
};

// A rule's name: letters, digits, '_', '-', '.'; at most 64.
bool valid_rule_name(std::string_view name);

// Parses one rule. `metrics` are the known metric names (for the "did you
// mean" list). Returns "" or a message quoting the offending token.
[[nodiscard]] std::string parse_rule(std::string_view text, const std::vector<std::string>& metrics, Rule& out);

// The rule of a [check.NAME].
Rule check_rule(const CheckConfig& check);

// Parses every `rule =` line of the config, then adds a rule per check;
// errors as "file:line: message". A rule may name the perfdata of a check,
// check.NAME.LABEL, for any configured NAME: labels are known only once the
// plugin has run.
std::vector<Rule> compile_rules(const Config& cfg, const std::vector<std::string>& metrics,
                                std::vector<std::string>& errors);

}  // namespace imwatch::agent
