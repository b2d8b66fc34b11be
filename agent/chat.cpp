#include "agent/chat.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "agent/jid.h"
#include "agent/messages.h"
#include "agent/report.h"
#include "agent/text_util.h"

namespace imwatch::agent {

ChatHandler::ChatHandler(std::vector<std::string> admins, ChatLimits limits)
    : limits_(limits),
      strangers_("chat", limits.refusal_every, limits.max_strangers),
      oversized_("oversized chat", limits.refusal_every, limits.max_strangers) {
  for (auto& a : admins) admins_.push_back(bare(a));
}

// The server stamps senders in stringprep form, and the config stores
// admins in it (agent/jid.h), so both are compared that way: nodeprep
// case-folds Unicode, where to_lower folds only ASCII. What does not prep
// (a domain-only JID such as the server's own) falls back to ASCII lower
// case: that can never equal an admin, because ASCII case is all it differs
// in and such a string would have prepped.
std::string ChatHandler::bare(std::string_view jid) {
  std::string_view b = jid.substr(0, jid.find('/'));
  if (auto prepped = prep_bare_jid(b)) return *prepped;
  return to_lower(b);
}

bool ChatHandler::is_admin(std::string_view from) const {
  const std::string who = bare(from);
  return std::find(admins_.begin(), admins_.end(), who) != admins_.end();
}

std::optional<std::string> ChatHandler::handle(std::string_view from, std::string_view body, double now,
                                               ChatContext& ctx) {
  const std::string who = bare(from);
  if (!is_admin(who)) {
    // No data for strangers; at most one refusal (and log line) per JID per
    // hour, and the JIDs we remember are bounded whatever a flood throws at us.
    auto dropped = strangers_.admit(who, now);
    if (!dropped) return std::nullopt;
    spdlog::warn("chat from {} refused: not an admin{}", quote(who), RefusalLog::dropped_note(*dropped));
    return std::string("not authorised");
  }
  // Every message counts against the rate, oversized ones too: a client
  // stuck resending a huge paste must not cost a log line each time.
  Rate& r = rates_[who];
  while (!r.recent.empty() && now - r.recent.front() >= limits_.window) r.recent.pop_front();
  if (static_cast<int>(r.recent.size()) >= limits_.commands_per_window) {
    if (r.warned) return std::nullopt;
    r.warned = true;
    // Commands past the limit are not recorded, so the oldest one in the
    // window says when the next is answered.
    return fit({fmt::format("slow down: over {} commands in {};", limits_.commands_per_window,
                            format_duration(limits_.window)),
                "listening again in " + human_duration(r.recent.front() + limits_.window - now, Rounding::up)});
  }
  r.warned = false;
  r.recent.push_back(now);
  if (body.size() > limits_.max_body) {
    if (auto dropped = oversized_.admit(who, now))
      spdlog::warn("chat from {}: {} byte message ignored (limit {}){}", who, body.size(), limits_.max_body,
                   RefusalLog::dropped_note(*dropped));
    return std::nullopt;
  }
  Reply reply = run_command(body, ctx);
  audit("chat", who, body, reply);
  return std::move(reply.text);
}

std::string ChatHandler::command(std::string_view body, ChatContext& ctx) { return run_command(body, ctx).text; }

}  // namespace imwatch::agent
