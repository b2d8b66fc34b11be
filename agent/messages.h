// Every word the agent says about alerts: event lines, the one-message
// notification, the `alerts` and `rules` listings, the presence status.
// The engine and the outbox stay structured; only this module renders, so a
// change of wording never changes what is delivered or folded.
//
// Durations have one formatter and one meaning per word:
//   "held 5m"     how long the condition held before the message (fired,
//                 escalated, de-escalated);
//   "firing 12m"  how long the alert has been open (reminders, `alerts`,
//                 RESOLVED "after firing", REMOVED);
//   "failing 3m"  how long a probe has been failing;
//   "10m more"    what is left of a mute.
// An elapsed time is rounded down, a time left is rounded up, each to the
// precision shown: so neither claims more than happened nor less than is
// left (a 10-minute mute shows "10m more" a second later).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "agent/alert_engine.h"
#include "agent/checks.h"
#include "agent/overrides.h"

namespace imwatch::agent {

enum class Rounding { down, up };

// 45 -> "45s", 754 -> "12m", 3720 -> "1h 2m", 273600 -> "3d 4h": seconds
// under a minute, minutes under an hour, hours and minutes under a day,
// then days and hours. Negative counts as 0.
std::string human_duration(double seconds, Rounding rounding = Rounding::down);

// One event as one line, without the host.
std::string event_line(const Event& e);
// "host: LINE", or "host: N changes" and one line each.
std::string notification_text(const std::string& host, const std::vector<std::string>& lines);
std::string notification_text(const Notification& n);

// The outbox's own lines. `alerts` are (rule, id); an empty rule is left out.
std::string folded_line(const std::vector<std::pair<std::string, uint64_t>>& alerts);
std::string dropped_line(size_t dropped, size_t limit);

// Chat: what fires now (open alerts, failing probes, mutes), and every rule
// with its state. `wall` is now.
std::string alerts_listing(const AlertEngine& engine, double wall);
std::string rules_listing(const AlertEngine& engine, double wall, const RuleEditor* editor = nullptr);

// Chat: every check with its state and last message (`checks`), and the
// answer to `check NAME`: its status, message, long text and perfdata.
std::string checks_listing(const Checks& checks, double wall);
std::string check_reply(const std::string& host, const CheckConfig& check, const CheckOutcome& outcome);

// Presence at a glance: dnd with critical rules, away with warnings or
// flapping rules, available "OK" only when nothing is open.
struct Presence {
  enum class Show { available, away, dnd };
  Show show = Show::available;
  std::string status;
};
Presence presence_for(const AlertEngine& engine);

}  // namespace imwatch::agent
