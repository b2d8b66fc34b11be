// Chat commands: who may ask, how often, and the replies. Pure logic over
// the latest snapshot and the alert engine: no XMPP in here, so it is tested
// on a fake clock. Chat text is data only: it never reaches a shell or a
// format string, and what is echoed back is quoted and cut short.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/alert_engine.h"
#include "agent/history.h"
#include "agent/refusal_log.h"
#include "agent/snapshot.h"

namespace imwatch::agent {

struct ChatLimits {
  size_t max_body = 4096;        // bytes; longer bodies are ignored (and count against the rate)
  int commands_per_window = 20;  // per admin JID
  double window = 10;            // seconds
  double refusal_every = 3600;   // at most one "not authorised" and one log line per stranger
  size_t max_strangers = 1024;   // remembered strangers (memory is bounded)
};

// What a command may read and change.
struct ChatContext {
  const Snapshot& snapshot;
  AlertEngine& engine;
  const std::string& host;
  std::optional<double> uptime;      // seconds since boot, if known
  double wall;                       // now, Unix time
  const History* history = nullptr;  // `graph`, the `status` trend; null: none kept
  // Asked of every agent at once (`all: status` in the fleet's room): the
  // reply is one line of at most 40 columns that starts with the host, and
  // an empty reply (`all: alerts` on a healthy host) is not sent.
  bool brief = false;
  // Who asks (the local part of the admin's JID: "alice"), set by handle().
  std::string speaker = {};
  // Told what an admin changed (ack, mute, unmute), for the other admins
  // and the room: "alice acked #3 (memory) on web1". Null: nobody.
  std::function<void(const std::string& line)> told = {};
};

// The one-line forms of `all:` (see ChatContext::brief).
std::string brief_status(const ChatContext& ctx);  // "web1  OK  load 0.3/cpu  mem 41%  up 12d"
std::string brief_alerts(const ChatContext& ctx);  // "" when nothing fires

class ChatHandler {
 public:
  ChatHandler(std::vector<std::string> admins, ChatLimits limits = {});

  // Normalises a JID for comparison: the bare part, in the stringprep form
  // the server compares (agent/jid.h).
  static std::string bare(std::string_view jid);
  bool is_admin(std::string_view from) const;

  // The reply to a message from `from` (a full or bare JID) at monotonic
  // time `now`, or nothing to send.
  std::optional<std::string> handle(std::string_view from, std::string_view body, double now, ChatContext& ctx);

  // The reply to a command from an admin, without access checks.
  static std::string command(std::string_view body, ChatContext& ctx);

 private:
  struct Rate {
    std::deque<double> recent;
    bool warned = false;
  };
  std::vector<std::string> admins_;
  ChatLimits limits_;
  std::map<std::string, Rate> rates_;
  RefusalLog strangers_;  // one refusal (reply and log line) per stranger and period
  RefusalLog oversized_;  // one log line per admin and period
};

}  // namespace imwatch::agent
