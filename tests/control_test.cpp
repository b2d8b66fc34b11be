// The local command's socket (agent/control.h): the request parser, who may
// run commands, and the server in a real event loop over real sockets: a
// client that never writes, too many clients, oversized requests.
#include "agent/control.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

using namespace imwatch::agent;

namespace {

TEST(ControlRequest, OneLine) {
  EXPECT_EQ(parse_request("status\n").state, Request::State::complete);
  EXPECT_EQ(parse_request("status\n").line, "status");
  EXPECT_EQ(parse_request("mute 2h iowait\r\n").line, "mute 2h iowait");
  EXPECT_EQ(parse_request("ack 3\nand more").line, "ack 3");  // one request per connection
  EXPECT_EQ(parse_request("\n").line, "");
  EXPECT_EQ(parse_request("graph m\xC3\xA9m\n").line, "graph m\xC3\xA9m");  // UTF-8 is fine
  EXPECT_EQ(parse_request("stat").state, Request::State::incomplete);
  EXPECT_EQ(parse_request("").state, Request::State::incomplete);
}

TEST(ControlRequest, BoundedAndClean) {
  Request r = parse_request(std::string(kMaxRequest, 'a'));
  EXPECT_EQ(r.state, Request::State::bad);
  EXPECT_EQ(r.error, "request over 1024 bytes");
  EXPECT_EQ(parse_request(std::string(kMaxRequest - 1, 'a')).state, Request::State::incomplete);
  EXPECT_EQ(parse_request(std::string(kMaxRequest - 1, 'a') + "\n").state, Request::State::complete);
  EXPECT_EQ(parse_request(std::string(kMaxRequest, 'a') + "\n").state, Request::State::bad);
  EXPECT_EQ(parse_request("mute\x1b[2J\n").error, "a control character in the request");
  EXPECT_EQ(parse_request(std::string("ack\0 3\n", 7)).state, Request::State::bad);
  EXPECT_EQ(parse_request("ack \xFF\n").error, "the request is not UTF-8");
  EXPECT_EQ(parse_request("ack \xC0\xAF\n").state, Request::State::bad);      // overlong
  EXPECT_EQ(parse_request("ack \xED\xA0\x80\n").state, Request::State::bad);  // a surrogate
  EXPECT_EQ(parse_request("ack \xE2\x82\n").state, Request::State::bad);      // cut short
}

TEST(ControlResponse, RoundTrip) {
  EXPECT_EQ(format_response("ok", "pong"), "ok\npong\n");
  auto r = parse_response(format_response("usage", "usage: ack N\nmore"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, "usage");
  EXPECT_EQ(r->text, "usage: ack N\nmore\n");
  EXPECT_FALSE(parse_response("no newline"));
  EXPECT_FALSE(parse_response("\nempty status"));
  EXPECT_EQ(status_word(Outcome::failed), "failed");
}

TEST(ControlAccess, RootAndTheGroup) {
  Peer root{.pid = 1, .uid = 0, .gid = 0, .groups = {}, .user = "root"};
  Peer member{.pid = 2, .uid = 1000, .gid = 1000, .groups = {27, 998}, .user = "alice"};
  Peer primary{.pid = 3, .uid = 1001, .gid = 998, .groups = {}, .user = "imwatch"};
  Peer other{.pid = 4, .uid = 1002, .gid = 1002, .groups = {27}, .user = "eve"};
  EXPECT_TRUE(may_run(root, 998));
  EXPECT_TRUE(may_run(root, std::nullopt));
  EXPECT_TRUE(may_run(member, 998));
  EXPECT_TRUE(may_run(primary, 998));
  EXPECT_FALSE(may_run(other, 998));
  EXPECT_FALSE(may_run(member, std::nullopt));
}

// The server in the agent's own loop; the test's sockets are the clients,
// and the test turns the loop between their steps.
class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imwatch-control-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/control";
  }
  void TearDown() override {
    for (int fd : fds_) ::close(fd);
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  void start(ControlLimits limits) {
    server_ = std::make_unique<ControlServer>(
        loop_,
        [this](const Peer& p, const std::string& line) {
          ++handled_;
          peer_ = p;
          if (line == "big") return Reply(std::string(300000, 'x'));
          return line == "ping" ? Reply("pong") : usage("usage: " + line);
        },
        limits);
    // Our own primary group is the control group: this test is a member.
    const struct group* g = ::getgrgid(::getgid());
    ASSERT_NE(g, nullptr);
    ASSERT_EQ(server_->listen(path_, g->gr_name), "");
  }
  int connect_client() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
    fds_.push_back(fd);
    return fd;
  }
  void send_text(int fd, const std::string& s) {
    EXPECT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }
  // Turns the loop until the agent closed `fd` (or `passes` ran out); what it sent.
  std::string answer(int fd, int passes = 200) {
    std::string got;
    char buf[65536];
    for (int i = 0; i < passes; ++i) {
      loop_.run_once(0.02);
      for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n == 0) return got;
        if (n < 0) break;
        got.append(buf, static_cast<size_t>(n));
      }
    }
    return got + "<still open>";
  }

  imwatch::agent::SystemClock clock_;
  PollWaiter waiter_;
  EventLoop loop_{clock_, waiter_};
  std::unique_ptr<ControlServer> server_;
  std::string dir_, path_;
  std::vector<int> fds_;
  int handled_ = 0;
  Peer peer_;
};

TEST_F(ControlServerTest, AnswersWithTheKernelsCredentials) {
  start({});
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);  // the credentials decide, not the file mode
  int fd = connect_client();
  send_text(fd, "ping\n");
  EXPECT_EQ(answer(fd), "ok\npong\n");
  EXPECT_EQ(peer_.uid, ::getuid());
  EXPECT_EQ(peer_.pid, ::getpid());
  EXPECT_EQ(peer_.gid, ::getgid());
  EXPECT_FALSE(peer_.user.empty());
  EXPECT_EQ(server_->clients(), 0u);
}

TEST_F(ControlServerTest, ALongReplyGoesOutWhenTheClientReads) {
  start({});
  int fd = connect_client();
  send_text(fd, "big\n");
  std::string got = answer(fd);
  EXPECT_EQ(got.size(), 3u + 300000u + 1u);
  EXPECT_EQ(got.rfind("ok\nxxx", 0), 0u);
}

TEST_F(ControlServerTest, ASilentClientStallsNothingAndIsDroppedAtItsDeadline) {
  start({.max_clients = 8, .deadline = 0.5});
  int ticks = 0;
  loop_.add_job(0.05, [&] { ++ticks; });
  int silent = connect_client();
  loop_.run_once(0.01);
  EXPECT_EQ(server_->clients(), 1u);
  // Another client is answered meanwhile, and the jobs run.
  int fd = connect_client();
  send_text(fd, "ping\n");
  EXPECT_EQ(answer(fd), "ok\npong\n");
  EXPECT_EQ(server_->clients(), 1u);
  // Then the silent one is closed: EOF, no answer, its slot free.
  EXPECT_EQ(answer(silent), "");
  EXPECT_EQ(server_->clients(), 0u);
  EXPECT_GT(ticks, 3);
  EXPECT_EQ(handled_, 1);
}

TEST_F(ControlServerTest, HalfALineIsNotARequest) {
  start({.max_clients = 8, .deadline = 0.3});
  int fd = connect_client();
  send_text(fd, "mute 2h");
  ::shutdown(fd, SHUT_WR);
  EXPECT_EQ(answer(fd), "");
  EXPECT_EQ(handled_, 0);
}

TEST_F(ControlServerTest, OverTheLimitOfClientsIsBusy) {
  start({.max_clients = 2, .deadline = 5});
  int a = connect_client(), b = connect_client();
  loop_.run_once(0.01);
  int c = connect_client();
  std::string busy = answer(c);
  EXPECT_EQ(busy.rfind("busy\n", 0), 0u) << busy;
  // The two admitted ones are served in any order, then a new one is admitted.
  send_text(b, "ping\n");
  EXPECT_EQ(answer(b), "ok\npong\n");
  send_text(a, "ping\n");
  EXPECT_EQ(answer(a), "ok\npong\n");
  int d = connect_client();
  send_text(d, "ping\n");
  EXPECT_EQ(answer(d), "ok\npong\n");
}

TEST_F(ControlServerTest, ManyClientsAtOnce) {
  start({});
  std::vector<int> clients;
  for (int i = 0; i < 8; ++i) clients.push_back(connect_client());
  for (int fd : clients) send_text(fd, "ping\n");
  for (int fd : clients) EXPECT_EQ(answer(fd), "ok\npong\n");
  EXPECT_EQ(handled_, 8);
}

TEST_F(ControlServerTest, OversizedAndBinaryRequestsAreRefusedUnread) {
  start({});
  int fd = connect_client();
  send_text(fd, std::string(5000, 'a'));
  EXPECT_EQ(answer(fd), "usage\nrequest over 1024 bytes\n");
  int bin = connect_client();
  send_text(bin, "ack \x01\n");
  EXPECT_EQ(answer(bin), "usage\na control character in the request\n");
  EXPECT_EQ(handled_, 0);
}

TEST_F(ControlServerTest, AStaleSocketIsReplacedALiveOneIsNot) {
  start({});
  ControlServer second(loop_, [](const Peer&, const std::string&) { return Reply("x"); });
  EXPECT_NE(second.listen(path_, "root").find("another agent listens there"), std::string::npos);
  server_.reset();  // removes its socket
  // A socket file nobody listens on, as a SIGKILLed agent leaves it.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path_.c_str(), path_.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  start({});
  int c = connect_client();
  send_text(c, "ping\n");
  EXPECT_EQ(answer(c), "ok\npong\n");
}

TEST_F(ControlServerTest, ADirOthersMayWriteIsRefused) {
  ::chmod(dir_.c_str(), 0777);
  ControlServer s(loop_, [](const Peer&, const std::string&) { return Reply("x"); });
  EXPECT_NE(s.listen(path_, "root").find("writable by group or others"), std::string::npos);
  std::string file = dir_ + "/plain";
  ::chmod(dir_.c_str(), 0700);
  ::close(::open(file.c_str(), O_CREAT | O_WRONLY, 0600));
  EXPECT_NE(s.listen(file, "root").find("exists and is not a socket"), std::string::npos);
}

}  // namespace
