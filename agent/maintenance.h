// Maintenance windows: when planned work holds rules (agent/alert_engine.h,
// holds), from `[alert] maintenance` lines.
//
//   maintenance = NAME: DAYS HH:MM-HH:MM [RULE[, RULE...]]
//
// DAYS is `daily` or a comma list of days and day ranges (`Mon`..`Sun`,
// `Mon-Fri`, `Fri-Mon` wraps). A window whose end is not after its start
// runs across midnight and ends the next day; DAYS says when it starts. No
// rule list means every rule. Times are local, in the process's time zone
// (TZ), and turned into instants by the C library (mktime) for each day
// anew, so a window keeps its wall-clock times across DST changes: a
// 02:00-04:00 window on the day the clock skips 02:00-03:00 lasts one hour,
// on the day it repeats 02:00-03:00 three. Pure: no clock of its own, so it
// is tested with any instant and any TZ.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"

namespace imwatch::agent {

struct Window {
  std::string name;
  std::array<bool, 7> days{};  // [0] Sunday .. [6] Saturday, as struct tm
  int start = 0, end = 0;      // minutes after local midnight; end may be 1440 (24:00)
  std::vector<std::string> rules;  // empty: all
  Origin origin;

  // "Sun 02:00-04:00 iowait, disk": the window as the file would write it.
  std::string canonical() const;
};

// Parses one `maintenance =` value. Returns "" or a message quoting the
// offending token. Rule names are checked for form here and against the
// configured rules by compile_windows().
[[nodiscard]] std::string parse_window(std::string_view text, Window& out);

// Every `maintenance =` line of the config; errors as "file:line: message".
// `rules` are the configured rule names: a window naming another rule is an
// error (a typo would otherwise hold nothing).
std::vector<Window> compile_windows(const Config& cfg, const std::vector<std::string>& rules,
                                    std::vector<std::string>& errors);

// If `w` is open at Unix time `wall`: when it ends (Unix time). Half-open:
// open from its start, closed at its end.
std::optional<double> window_end(const Window& w, double wall);

// When `w` next opens after `wall` (within the next eight days), or nothing
// when it never does (no day).
std::optional<double> window_next_start(const Window& w, double wall);

}  // namespace imwatch::agent
