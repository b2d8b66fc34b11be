// A gloox::Client that strangers cannot make grow.
//
// Two things gloox does not do by itself:
//
// - It answers queries from anyone: disco#info (our identity, the host
//   name), software version (our version and OS), roster pushes (kept
//   forever), each with a reply. Here every iq get or set from a JID that is
//   neither our own account, our server nor an admin is answered with
//   service-unavailable (RFC 6120 8.2.3 wants an answer; this one tells
//   nothing) before gloox parses it any further, and reported once through
//   `on_refused`. Software version is for admins only.
// - Under XEP-0198 it keeps every stanza it sends until the server acks it,
//   and never asks. Here an ack is requested after every kAckEvery stanzas
//   sent, whatever sent them (chat replies, the errors above, subscription
//   refusals, gloox's own answers), so the queue stays short.
#pragma once

#include <gloox/client.h>
#include <gloox/statisticshandler.h>

#include <functional>
#include <string>

namespace imwatch::agent {

class GuardedClient final : public gloox::Client, gloox::StatisticsHandler {
 public:
  // Stanzas sent between two ack requests: each stays queued (a few hundred
  // bytes) until the server's answer to the next request arrives.
  static constexpr long kAckEvery = 16;

  using IsAdmin = std::function<bool(const gloox::JID& bare)>;
  // `bare` is the sender's bare JID, `what` the refused query's namespace.
  using OnRefused = std::function<void(const gloox::JID& bare, const std::string& what)>;

  GuardedClient(const gloox::JID& jid, const std::string& password, IsAdmin is_admin, OnRefused on_refused);

  // Queries refused since construction (for tests and figures).
  unsigned long refused() const { return refused_; }

 private:
  void handleTag(gloox::Tag* tag) override;
  void handleStatistics(const gloox::StatisticsStruct stats) override;
  bool own_side(const gloox::JID& from);

  IsAdmin is_admin_;
  OnRefused on_refused_;
  long queued_at_last_request_ = 0;
  unsigned long refused_ = 0;
};

}  // namespace imwatch::agent
