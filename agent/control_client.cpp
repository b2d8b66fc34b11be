// `imwatch COMMAND...`: the client side of agent/control.h.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "agent/control.h"
#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

// What the agent takes to answer, at most: it answers from memory, so this
// only matters when it is stopped (SIGSTOP) or stuck.
constexpr int kTimeoutMs = 10000;

double monotonic() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Waits until `fd` is ready for `events` or the deadline passes.
bool wait_for(int fd, short events, double deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    int ms = static_cast<int>((deadline - monotonic()) * 1000);
    if (ms <= 0) return false;
    int n = ::poll(&p, 1, ms);
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

int no_agent(const std::string& path, const std::string& why) {
  std::fprintf(stderr, "imwatch: no agent answers on %s: %s\n", path.c_str(), why.c_str());
  if (why == std::strerror(EACCES))
    std::fprintf(stderr, "imwatch: only root and members of the imwatch group may run commands\n");
  return 1;
}

// Sends the line and reads the whole answer (the agent closes after it).
bool exchange(int fd, const std::string& line, std::string& answer, std::string& error) {
  const double deadline = monotonic() + kTimeoutMs / 1000.0;
  for (size_t sent = 0; sent < line.size();) {
    if (!wait_for(fd, POLLOUT, deadline)) return error = "timed out", false;
    ssize_t n = ::send(fd, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;  // refused before reading: the answer says why
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char buf[4096];
  for (;;) {
    if (!wait_for(fd, POLLIN, deadline)) return error = "timed out", false;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    // A reset after the answer (a busy agent closing with our request
    // unread) loses nothing: the answer is all there is.
    if (n < 0 && errno == ECONNRESET && !answer.empty()) return true;
    if (n < 0) return error = std::strerror(errno), false;
    if (n == 0) return true;
    if (answer.size() + static_cast<size_t>(n) > ControlLimits{}.max_reply) return error = "answer too long", false;
    answer.append(buf, static_cast<size_t>(n));
  }
}

int exit_status(const Response& r) {
  if (r.status == "ok") return 0;
  if (r.status == "usage") return 2;
  return 1;  // failed, refused, busy
}

}  // namespace

bool ask_agent(const std::string& socket_path, const std::string& line, Response& out, std::string& error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) return error = "bad path", false;
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return error = std::strerror(errno), false;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return false;
  }
  std::string answer;
  bool ok = exchange(fd, line + "\n", answer, error);
  ::close(fd);
  if (!ok) return false;
  auto r = parse_response(answer);
  if (!r) return error = "no answer", false;
  out = std::move(*r);
  return true;
}

int run_control(const std::string& socket_path, const std::vector<std::string>& words) {
  std::string line;
  for (const auto& w : words) line += (line.empty() ? "" : " ") + w;
  line += '\n';
  if (line.size() > kMaxRequest) {
    std::fprintf(stderr, "imwatch: the command is over %zu bytes\n", kMaxRequest);
    return 2;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof addr.sun_path) return no_agent(socket_path, "bad path");
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return no_agent(socket_path, std::strerror(errno));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return no_agent(socket_path, why);
  }
  std::string answer, error;
  bool ok = exchange(fd, line, answer, error);
  ::close(fd);
  if (!ok) return no_agent(socket_path, error);
  auto r = parse_response(answer);
  if (!r) return no_agent(socket_path, "no answer");
  std::FILE* out = r->status == "ok" ? stdout : stderr;
  std::fputs(r->text.c_str(), out);
  return exit_status(*r);
}

}  // namespace imwatch::agent
