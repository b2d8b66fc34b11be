// Rate-limited logging of refusals: a stranger's chat, subscription request
// or query, an admin's oversized message. Whatever one JID sends, it costs at
// most one log line per period, and that line says how many refusals were
// dropped since the previous one; whatever many JIDs send, the memory is
// bounded (a fixed number of remembered JIDs). Pure logic on a monotonic
// time the caller passes, so it is tested without a clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace imwatch::agent {

class RefusalLog {
 public:
  // `what` names the kind of refusal in the overflow line ("chat",
  // "subscription", ...): at most one line per period says how many
  // refusals came from JIDs beyond `max_jids`.
  explicit RefusalLog(std::string what, double period = 3600, size_t max_jids = 1024);

  // A refusal of something from `jid` (bare, normalised) at monotonic time
  // `now`. When this one is to be logged (the first from `jid` in a period),
  // the number of refusals from `jid` dropped since its previous line;
  // otherwise nothing, and the caller logs nothing.
  std::optional<uint64_t> admit(std::string_view jid, double now);

  // ", N more dropped since" for a count from admit(), or "" for none: for
  // the end of the caller's log line.
  static std::string dropped_note(uint64_t dropped);

  size_t remembered() const { return seen_.size(); }

 private:
  struct Entry {
    double logged_at = 0;
    uint64_t dropped = 0;
  };
  std::string what_;
  double period_;
  size_t max_jids_;
  std::unordered_map<std::string, Entry> seen_;
  // Refusals from JIDs that did not fit, and when that was last logged.
  uint64_t untracked_ = 0;
  std::optional<double> untracked_logged_at_;
};

}  // namespace imwatch::agent
