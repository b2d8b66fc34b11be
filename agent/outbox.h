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
//
// Each message keeps its lines structured (kind, alert id, rule, severity)
// beside their rendered text: folding reads the fields, never the words, and
// the message body is rendered again from the lines (agent/messages.h).
//
// The file (version 2), one record per line, fields separated by tabs, text
// fields with \\, \t and \n escaped:
//   imwatch-outbox 2
//   counter COUNT
//   dropped COUNT SINCE
//   msg ID WALL HOST                          (then its lines, at least one)
//   line KIND ALERT SEVERITY RULE TEXT        (KIND as kind_name(); SEVERITY 0-2)
// A version 1 file (one "msg" record per message with "fired:12"-style
// tags) is converted on load: kinds fired and resolved and their ids are
// kept, other lines become kind "converted", rule names are left empty.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/alert_engine.h"
#include "agent/config.h"

namespace imwatch::agent {

struct OutboxLine {
  Event::Kind kind = Event::converted;
  uint64_t alert = 0;  // alert id, 0 for none
  std::string rule;
  Severity severity = Severity::ok;  // route_level() of its event
  std::string text;  // event_line(): without the host
};

struct OutboxMessage {
  std::string id;   // stanza id, unique across processes, kept on resend
  double wall = 0;  // when it was raised: XEP-0203 delay on late delivery
  std::string host;
  std::vector<OutboxLine> lines;  // at least one
  std::string text;               // the body: notification_text(host, lines' texts)
  uint64_t sent_in = 0;           // round trip it was sent before; 0: unsent
  // Not saved: whether the "queued" log line was written, and for a summary
  // the ids it replaced (they will never be sent themselves).
  bool announced = false;
  std::vector<std::string> replaces;
  std::string except;  // Notification::except: not sent to this bare JID
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
  // "" or an error; on error unchanged. Applies the limit: past it the
  // oldest messages are dropped and counted, as at run time.
  [[nodiscard]] std::string parse(std::string_view text);
  // Saves to `path` when changed; says once that it cannot, and when it can again.
  // Then logs "outbox: queued ID" once for each message new since the last
  // save: after the write, so that a logged id survives a kill -9 (unless
  // the state dir cannot be written). Fault tests count notifications by it.
  void save(const std::string& path);
  // Restores a saved outbox. A file larger than file_limit() is refused
  // unread, and so is anything but a regular file; what cannot be used is
  // said once in the log and then replaced at the next save.
  void load(const std::string& path);
  // The largest file load() reads: 4 KiB per message of the limit, at least
  // 1 MiB, at most 16 MiB (4,096,000 bytes for the default outbox_max 1000).
  size_t file_limit() const;

  std::string new_id();

 private:
  void drop_over_limit();
  std::string parse_v1(const std::vector<std::string_view>& records, std::vector<OutboxMessage>& out) const;

  std::string host_;
  size_t max_;
  std::string prefix_;
  uint64_t counter_ = 0;
  std::vector<OutboxMessage> messages_;
  size_t dropped_ = 0;
  size_t dropped_by_parse_ = 0;  // of dropped_: by the last parse(), for load()'s log line
  double dropped_since_ = 0;
  std::string last_saved_;
  bool save_failing_ = false;
};

// Where a line goes (xmpp.admin and xmpp.room may carry a least severity):
// by the highest severity its event concerns, the one it ends too (a
// resolution or a de-escalation goes where the alert went). A host of the
// fleet vanishing or coming back counts as critical. Probe failures go only
// to destinations that take everything; the outbox's own summaries and the
// test alert to all but `none`.
Severity route_level(const Event& e);
bool routed_to(MinSeverity min, Event::Kind kind, Severity level);
// The body of `m` for a destination that takes `min`: its lines routed
// there, or "" when none is.
std::string routed_text(const OutboxMessage& m, MinSeverity min);
// `n` with only its events routed to `min` (maybe none).
Notification routed(const Notification& n, MinSeverity min);

// A prefix that makes stanza ids unique across processes and restarts:
// random bits from the kernel, not the clock (gloox seeds from time(0)).
std::string random_id_prefix();

}  // namespace imwatch::agent
