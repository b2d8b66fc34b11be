// Loopback helpers shared by the test servers, benchmarks and fault tools.
#pragma once

#include <netinet/in.h>

namespace imwatch::test {

// 127.0.0.1:`port` (0: any port, for bind).
sockaddr_in loopback_address(int port);

// True if something accepts a TCP connection on 127.0.0.1:`port` within
// `timeout_ms` (a server is ready when its port accepts, not when its PID
// exists).
bool loopback_port_accepts(int port, int timeout_ms = 200);

// A port the kernel considers free on 127.0.0.1 right now, never one of the
// XMPP (5222, 5269) or Erlang (4369) defaults, and not `avoid` (to keep two
// picks apart). 0 if none was found.
int free_loopback_port(int avoid = 0);

}  // namespace imwatch::test
