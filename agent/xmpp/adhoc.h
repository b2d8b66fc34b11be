// XEP-0050 ad-hoc commands over gloox: the registry's commands (and the
// two-stage `set thresholds`) as menus and XEP-0004 forms in the admins'
// clients (Gajim, Conversations, profanity's /cmd). The forms and the
// checks of what comes back are agent/adhoc_forms.h; this is the glue.
//
// Only admins see the list and run commands: GuardedClient refuses every
// query from a stranger before gloox reads it (disco included, so they do
// not even learn that commands exist), and each command checks again here.
// Sessions (a form waiting for its submission) are bounded in number and
// lifetime; a client may cancel one at any stage.
#pragma once

#include <gloox/adhoc.h>
#include <gloox/adhoccommandprovider.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "agent/adhoc_forms.h"
#include "agent/event_loop.h"

namespace imwatch::agent {

struct AdhocLimits {
  size_t max_sessions = 16;  // forms waiting for a submission, all admins together
  double lifetime = 600;     // seconds a session waits at most
};

class AdhocCommands final : public gloox::AdhocCommandProvider {
 public:
  using IsAdmin = std::function<bool(const gloox::JID& from)>;
  // Calls its argument with the live context (the daemon's snapshot, engine).
  using WithContext = std::function<void(const std::function<void(ChatContext&)>&)>;

  AdhocCommands(gloox::ClientBase& client, IsAdmin is_admin, WithContext with_context, Clock& clock,
                AdhocLimits limits = {});
  ~AdhocCommands() override;
  AdhocCommands(const AdhocCommands&) = delete;
  AdhocCommands& operator=(const AdhocCommands&) = delete;

  size_t sessions() const { return sessions_.size(); }

 private:
  struct Session {
    std::string node, admin;  // admin: the bare JID that started it
    int stage = 0;            // `set`: 1 waits for the rule, 2 for the values
    std::string rule;
    double started = 0;  // monotonic
  };
  void handleAdhocCommand(const gloox::JID& from, const gloox::Adhoc::Command& command,
                          const std::string& sessionID) override;
  bool handleAdhocAccessRequest(const gloox::JID& from, const std::string& command) override;

  void start(const gloox::JID& from, const AdhocNode& node, const std::string& sid, ChatContext& ctx);
  void next(const gloox::JID& from, Session& s, const std::string& sid, const gloox::Adhoc::Command& command,
            ChatContext& ctx);
  void finish(const gloox::JID& from, const std::string& node, const std::string& sid, const std::string& line,
              ChatContext& ctx);
  void say(const gloox::JID& from, const std::string& node, const std::string& sid, Outcome o,
           const std::string& text);
  void expire();

  gloox::Adhoc adhoc_;
  IsAdmin is_admin_;
  WithContext with_context_;
  Clock& clock_;
  AdhocLimits limits_;
  std::map<std::string, Session> sessions_;  // by session id
};

}  // namespace imwatch::agent
