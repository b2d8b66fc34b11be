// Typed chat: who may ask, how often; the replies are the registry's
// (agent/commands.h). Pure logic over
// the latest snapshot and the alert engine: no XMPP in here, so it is tested
// on a fake clock. Chat text is data only: it never reaches a shell or a
// format string, and what is echoed back is quoted and cut short.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/commands.h"
#include "agent/config.h"
#include "agent/refusal_log.h"

namespace imwatch::agent {

struct ChatLimits {
  size_t max_body = 4096;        // bytes; longer bodies are ignored (and count against the rate)
  int commands_per_window = 20;  // per admin JID
  double window = 10;            // seconds
  double refusal_every = 3600;   // at most one "not authorised" and one log line per stranger
  size_t max_strangers = 1024;   // remembered strangers (memory is bounded)
};

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

  // The reply to a command from an admin, without access checks
  // (run_command()'s text).
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
