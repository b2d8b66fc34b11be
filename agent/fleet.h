// The fleet's room, the parts without XMPP: who a line in the room is
// addressed to. The room itself (joining, occupants, pings) is
// agent/xmpp/room.h; who watches whom is agent/peer_watch.h.
#pragma once

#include <string>
#include <string_view>

namespace imwatch::agent {

// "web1: status" and "web1, status" (the form clients complete a nick to)
// are for the agent whose nick is web1; "all: status" for every agent.
struct Addressed {
  enum To { nobody, me, all };
  To to = nobody;
  std::string command;  // trimmed, never empty unless `to` is nobody
};

// `body` as addressed to an agent named `nick` (or `alias`, its configured
// nick when the room gave it another), compared without ASCII case. At most
// the first 64 bytes are searched for the ':' or ','.
Addressed addressed(std::string_view body, std::string_view nick, std::string_view alias = {});

}  // namespace imwatch::agent
