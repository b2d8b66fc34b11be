// What a monitoring plugin prints, as the Nagios plugin development
// guidelines define it (docs/how-it-works.md, "Checks"):
//
//   TEXT OUTPUT | PERFDATA
//   LONG TEXT LINE 1
//   LONG TEXT LINE 2 | MORE PERFDATA
//   MORE PERFDATA
//
// The first line's text is the message admins read; performance data is a
// list of `'label'=value[UOM];[warn];[crit];[min];[max]` separated by
// spaces. Pure functions on text: the runner (agent/check_runner.h) reads,
// this parses. Everything a plugin prints is untrusted: bounded, control
// bytes dropped, a malformed item skipped with a reason, never a crash.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imwatch::agent {

constexpr size_t kMaxPerfdata = 32;        // items kept per run; the rest are dropped
constexpr size_t kMaxPerfLabel = 64;       // bytes of a label
constexpr size_t kMaxPluginMessage = 200;  // bytes of the message

// A threshold range: `[@][start:][end]`, start `~` for minus infinity. A value
// alerts when outside start..end, or inside with `@`. No start means 0, no end
// infinity.
struct PerfRange {
  bool inside = false;                // '@'
  std::optional<double> start = 0.0;  // nullopt: -infinity ('~')
  std::optional<double> end;          // nullopt: +infinity
  bool operator==(const PerfRange&) const = default;
};

struct PerfItem {
  std::string label;            // unquoted, '' unescaped
  std::optional<double> value;  // nullopt for "U" (the plugin could not tell): unknown, not 0
  std::string unit;             // "", s, ms, us, %, B, KB, MB, GB, TB, c
  std::optional<PerfRange> warn, crit;
  std::optional<double> min, max;
};

// Parses a perfdata string. Items that parse go to `items` (at most
// kMaxPerfdata); the reason for the first one that did not is returned ("" if
// all did), quoting the offending token.
std::string parse_perfdata(std::string_view text, std::vector<PerfItem>& items);

// Parses a range ("10", "10:", "~:10", "10:20", "@10:20").
std::optional<PerfRange> parse_range(std::string_view text);

struct PluginOutput {
  std::string message;              // the first line's text, cleaned and cut to kMaxPluginMessage
  std::vector<std::string> detail;  // the long text lines, cleaned (at most 20, each cut)
  std::vector<PerfItem> perfdata;
  std::string perf_error;  // "" or why an item was skipped
};

// The whole output of one run (already bounded by the runner).
PluginOutput parse_plugin_output(std::string_view output);

// The metric of a perfdata label for check `check`: "check.NAME.LABEL", the
// label's bytes outside [A-Za-z0-9_./:-] replaced by '_' so that a rule can
// name it as one word.
std::string perf_metric(std::string_view check, std::string_view label);

// Text from a plugin made safe for a chat line and a log: control bytes and
// invalid UTF-8 dropped, blanks collapsed, trimmed, cut to `max` bytes at a
// code point boundary ("..." marks a cut).
std::string clean_plugin_text(std::string_view text, size_t max);

}  // namespace imwatch::agent
