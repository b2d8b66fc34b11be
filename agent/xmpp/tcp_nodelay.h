// gloox never sets TCP_NODELAY; with Nagle on both ends small XMPP replies
// stall about 40 ms behind delayed ACKs (measured, see docs/xmpp.md).
#pragma once

#include <string>

namespace gloox {
class ConnectionTCPClient;
}

namespace imwatch::agent {

// Turns Nagle off on the connection's socket. Call it after the client's
// connect() succeeded, and again after every reconnect: each connect() opens
// a new socket. False (with `error` set, if given) when there is no socket
// yet or setsockopt fails.
bool set_tcp_nodelay(const gloox::ConnectionTCPClient& connection, std::string* error = nullptr);

}  // namespace imwatch::agent
