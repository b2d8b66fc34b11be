// A gloox::Client that strangers cannot make grow.
//
// Three things gloox does not do by itself:
//
// - It answers queries from anyone: disco#info (our identity, the host
//   name), software version (our version and OS), roster pushes (kept
//   forever), each with a reply. Here every iq get or set from a JID that is
//   neither our own account, our server nor an admin is answered with
//   service-unavailable (RFC 6120 8.2.3 wants an answer; this one tells
//   nothing) before gloox parses it any further, and reported through
//   `on_refused`. Software version is for admins only.
// - Under XEP-0198 it keeps every stanza it sends until the server acks it,
//   and never asks. Here an ack is requested after every kAckEvery stanzas
//   it queues, so that queue stays short.
// - Even so, the server's ack comes behind whatever it already holds for
//   us: under a flood, thousands of answers would wait in the queue for it.
//   So answers to strangers are not queued at all (send_unqueued): they are
//   not worth resending after a resumption. The server counts them in its
//   acks all the same, so the acks are translated back into gloox's
//   numbering (which counts only what it queued) before gloox reads them;
//   what that costs is one (position, count) pair per run of unqueued
//   stanzas not yet acked.
#pragma once

#include <gloox/client.h>
#include <gloox/statisticshandler.h>

#include <functional>
#include <limits>
#include <string>
#include <utility>

#include "agent/xmpp/unqueued_count.h"

namespace imwatch::agent {

class GuardedClient final : public gloox::Client, gloox::StatisticsHandler {
 public:
  // Stanzas queued between two ack requests: each stays queued (a few
  // hundred bytes) until the server's answer to the next request arrives.
  static constexpr long kAckEvery = 16;

  using IsAdmin = std::function<bool(const gloox::JID& bare)>;
  // `bare` is the sender's bare JID, `what` the refused query's namespace.
  using OnRefused = std::function<void(const gloox::JID& bare, const std::string& what)>;

  GuardedClient(const gloox::JID& jid, const std::string& password, IsAdmin is_admin, OnRefused on_refused);

  // Sends `tag` (and deletes it) without keeping it for a resumption: for
  // answers to strangers, which must cost nothing once sent.
  void send_unqueued(gloox::Tag* tag);

  // Deletes the copies gloox keeps of unacknowledged stanzas. For a session
  // that can no longer be resumed (resumption failed, or the client is being
  // replaced or stopped) they would never be acknowledged, and gloox never
  // frees them: the next session numbers its stanzas from 1 again and the
  // old copies under the same numbers were lost (valgrind, after a server
  // restart with a chat reply unacknowledged). checkQueue() deletes every
  // copy up to "handled", but only while stream management is on, hence
  // the state set around it.
  void forget_unacknowledged() {
    const SMContext was = m_smContext;
    m_smContext = CtxSMEnabled;
    checkQueue(std::numeric_limits<int>::max(), false);
    m_smContext = was;
    unqueued_.reset();
  }

  // Stanzas the fleet's room takes before gloox or the checks above see
  // them (agent/xmpp/room.h): true when `tag` was its.
  void set_intercept(std::function<bool(const gloox::Tag&)> fn) { intercept_ = std::move(fn); }

  // Queries refused since construction (for tests and figures).
  unsigned long refused() const { return refused_; }

 private:
  void handleTag(gloox::Tag* tag) override;
  void handleStatistics(const gloox::StatisticsStruct stats) override;
  bool own_side(const gloox::JID& from);
  bool allowed(const std::string& from, const std::string& ns);

  IsAdmin is_admin_;
  std::function<bool(const gloox::Tag&)> intercept_;
  OnRefused on_refused_;
  long queued_at_last_request_ = 0;
  unsigned long refused_ = 0;
  UnqueuedCount unqueued_;  // of this session
  // The last sender, prepared: a flood comes from one JID, and preparing a
  // JID (stringprep) costs more than answering it.
  std::string last_from_;
  gloox::JID last_bare_;
  bool last_own_ = false;
};

}  // namespace imwatch::agent
