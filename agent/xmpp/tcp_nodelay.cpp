#include "agent/xmpp/tcp_nodelay.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <gloox/connectiontcpclient.h>

namespace imwatch::agent {

bool set_tcp_nodelay(const gloox::ConnectionTCPClient& connection, std::string* error) {
  const int fd = connection.socket();
  if (fd < 0) {
    if (error) *error = "TCP_NODELAY: the connection has no socket (not connected)";
    return false;
  }
  const int on = 1;
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) {
    if (error) *error = std::string("TCP_NODELAY: setsockopt failed: ") + strerror(errno);
    return false;
  }
  return true;
}

}  // namespace imwatch::agent
