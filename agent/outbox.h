// Notifications not yet acknowledged by the XMPP server.
//
// Every notification enters the outbox first and leaves it only once the
// server has confirmed receiving it (a round trip sent after it: TCP keeps
// order, so the answer proves the server has everything before it). The
// outbox is saved in the state dir after every change, so neither a dead
// link nor a killed agent loses an alert. It is bounded: past the limit the
// oldest are dropped and counted, and the count goes out as one line. Alerts
// that fired and resolved while nothing could be delivered are summarised in
// one line instead of two stale messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/rules.h"

namespace imwatch::agent {

struct OutboxMessage {
  std::string id;   // stanza id, unique across processes, kept on resend
  double wall = 0;  // when it was raised: XEP-0203 delay on late delivery
  std::string text;
  // "fired:12", "resolved:12", ... for the outage summary; "" for others.
  std::vector<std::string> tags;
  std::vector<std::string> lines;  // one per event (without the host prefix)
  uint64_t sent_in = 0;            // round trip it was sent before; 0: unsent
  // Not saved: whether the "queued" log line was written, and for a summary
  // the ids it replaced (they will never be sent themselves).
  bool announced = false;
  std::vector<std::string> replaces;
};

class Outbox {
 public:
  Outbox(std::string host, size_t max, std::string id_prefix);

  void add(const Notification& n);
  // Messages to send now (unsent ones, oldest first). Folds what fired and
  // resolved while undelivered, and the dropped count, into summary lines.
  std::vector<OutboxMessage*> to_send(double wall);
  // They went out before round trip `rt`.
  void mark_sent(const std::string& id, uint64_t rt);
  // The server answered round trip `rt`: everything sent before it arrived.
  size_t acknowledge(uint64_t rt);
  // The link went down: whatever was in flight is unsent again.
  void link_lost();

  size_t size() const { return messages_.size(); }
  size_t dropped() const { return dropped_; }
  const std::vector<OutboxMessage>& messages() const { return messages_; }

  std::string serialize() const;
  std::string parse(std::string_view text);  // "" or an error; on error unchanged
  // Saves to `path` when changed; says once that it cannot, and when it can again.
  // Then logs "outbox: queued ID" once for each message new since the last
  // save: after the write, so that a logged id survives a kill -9 (unless
  // the state dir cannot be written). Fault tests count notifications by it.
  void save(const std::string& path);
  void load(const std::string& path);

  std::string new_id();

 private:
  std::string render(const std::vector<std::string>& lines) const;

  std::string host_;
  size_t max_;
  std::string prefix_;
  uint64_t counter_ = 0;
  std::vector<OutboxMessage> messages_;
  size_t dropped_ = 0;
  double dropped_since_ = 0;
  std::string last_saved_;
  bool save_failing_ = false;
};

// A prefix that makes stanza ids unique across processes and restarts:
// random bits from the kernel, not the clock (gloox seeds from time(0)).
std::string random_id_prefix();

}  // namespace imwatch::agent
