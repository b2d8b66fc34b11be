// The local command: `imwatch status`, `imwatch mute 2h iowait` on the
// server talk to the running agent over a Unix socket (by default
// /run/imwatch/control, the unit's RuntimeDirectory) and print the replies
// the chat gives, from the same registry (agent/commands.h). It works
// whatever the state of the XMPP link, which is when it is needed most.
//
// The protocol is one exchange per connection:
//   client: one line, the command as typed ("mute 2h iowait\n"), at most
//           kMaxRequest bytes;
//   agent:  a status word on a line of its own (ok, usage, failed, refused,
//           busy), then the reply's text; then it closes.
//
// The agent side lives in the event loop and never blocks it: the listening
// socket and every client are non-blocking descriptors; a client has a
// deadline from its connection to the end of the reply, after which it is
// dropped (one that connects and never writes holds a slot for that long
// at most); the clients served at once are bounded, and the one over the
// bound is told "busy". Who may run commands is the kernel's word, not the
// client's: SO_PEERCRED (uid, primary gid) and SO_PEERGROUPS (supplementary
// groups) of the connection; root and members of the control group
// (`imwatch`) may, everyone else is told so once its request is read
// (closing with it unread would reset the connection) and nothing is run.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/commands.h"
#include "agent/event_loop.h"

namespace imwatch::agent {

// The longest request line, newline included: a command line is a few words.
constexpr size_t kMaxRequest = 1024;

// What the request parser makes of the bytes read so far.
struct Request {
  enum class State : uint8_t { incomplete, complete, bad } state = State::incomplete;
  std::string line;   // complete: the command line, without the newline (and a CR before it)
  std::string error;  // bad: why, for the client
};

// Parses the bytes a client sent so far. Complete at the first newline;
// bad when `max` bytes came without one, or the line holds a control byte
// or is not UTF-8. What follows the newline is ignored (one request per
// connection).
Request parse_request(std::string_view data, size_t max = kMaxRequest);

// The agent's answer as it goes over the socket, and back.
std::string format_response(std::string_view status, std::string_view text);
struct Response {
  std::string status;  // "ok", "usage", "failed", "refused", "busy"
  std::string text;
};
// Nothing when `data` has no status line.
std::optional<Response> parse_response(std::string_view data);
// The status word of a reply's outcome.
std::string_view status_word(Outcome o);

// Who is on the other end of a connection, as the kernel says.
struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
  std::string user;           // the user name, or "uid N"
};

// Whether `peer` may run commands: root, or in group `group` (as its
// primary or a supplementary group). Without a group (nullopt: the group
// does not exist) only root may.
bool may_run(const Peer& peer, std::optional<gid_t> group);

struct ControlLimits {
  size_t max_clients = 8;   // served at once; the next one is told "busy"
  double deadline = 5;      // seconds from connection to the reply's last byte
  size_t max_reply = 1 << 20;  // bytes the client reads at most
};

class ControlServer {
 public:
  // Runs a request line from `peer` (allowed already) and answers it.
  using Handler = std::function<Reply(const Peer& peer, const std::string& line)>;

  ControlServer(EventLoop& loop, Handler handler, ControlLimits limits = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Listens on `path` (its dir must exist, belong to root or us and be
  // writable by nobody else); `group` names the group whose members may run
  // commands. Returns "" or why not; the agent then runs without it.
  [[nodiscard]] std::string listen(const std::string& path, const std::string& group);
  const std::string& path() const { return path_; }
  size_t clients() const { return clients_.size(); }

 private:
  struct Client {
    int fd = -1;
    Peer peer;
    std::string in, out;
    size_t sent = 0;
    EventLoop::JobId deadline = 0;
    bool refused = false;  // neither root nor in the group: told so, nothing run
  };
  void on_accept();
  void admit(int fd);
  void on_readable(uint64_t id);
  void answer(uint64_t id, std::string response);
  void on_writable(uint64_t id);
  void drop(uint64_t id);

  EventLoop& loop_;
  Handler handler_;
  ControlLimits limits_;
  int listen_fd_ = -1;
  std::string path_;
  std::optional<gid_t> group_;
  std::string group_name_;
  std::map<uint64_t, Client> clients_;
  uint64_t next_id_ = 1;
};

// `imwatch COMMAND...`: sends `words` to the agent on `socket_path`, prints
// the reply (on stdout when it is "ok", on stderr otherwise) and returns the exit
// status: 0, 1 when no agent answers (or it refused, or the command
// failed), 2 for a usage error.
int run_control(const std::string& socket_path, const std::vector<std::string>& words);

// One exchange with the agent: `line` (no newline) and its answer into
// `out`. False, with why into `error`, when no agent answers.
bool ask_agent(const std::string& socket_path, const std::string& line, Response& out, std::string& error);

}  // namespace imwatch::agent
