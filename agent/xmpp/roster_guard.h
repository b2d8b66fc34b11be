// The agent's roster holds its admins and no one else.
//
// gloox's RosterManager is not used (the client is made with disableRoster()):
// it kept every roster push, also pushes spoofed by strangers (RFC 6121 2.1.6
// says to ignore those), and every presence of every contact. What the agent
// needs is smaller: at each new session, fetch the roster and, for every
// contact that is not an admin (any more), revoke the presence subscription
// both ways and remove the item, so that a removed admin stops seeing the
// server's health; pushes from our own account get the same treatment. A
// push from anyone else is refused by GuardedClient before it gets here.
#pragma once

#include <gloox/iqhandler.h>

#include <functional>
#include <set>
#include <string>

namespace gloox {
class Client;
class JID;
}  // namespace gloox

namespace imwatch::agent {

class RosterGuard final : gloox::IqHandler {
 public:
  using IsAdmin = std::function<bool(const gloox::JID& bare)>;

  // Registers itself with `client` (which must have its roster disabled) for
  // roster queries and pushes.
  RosterGuard(gloox::Client& client, IsAdmin is_admin);
  ~RosterGuard() override;
  RosterGuard(const RosterGuard&) = delete;
  RosterGuard& operator=(const RosterGuard&) = delete;

  // At each new session: asks for the roster, then cleans it.
  void on_session();

  // Contacts revoked since construction (for tests and figures).
  unsigned long revoked() const { return revoked_; }

 private:
  bool handleIq(const gloox::IQ& iq) override;
  void handleIqID(const gloox::IQ& iq, int context) override;
  void check(const std::string& jid, const std::string& subscription, const std::string& ask);

  gloox::Client& client_;
  IsAdmin is_admin_;
  unsigned long revoked_ = 0;
  std::set<std::string> revoking_;  // this session's; only our own roster's items
};

}  // namespace imwatch::agent
