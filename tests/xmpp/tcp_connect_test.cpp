// TcpConnector and the SRV answer parser on loopback: a listener accepts,
// a closed port refuses, a full accept queue (SYNs dropped, as by a
// blackhole) times out, all without blocking the loop.
#include "agent/xmpp/tcp_connect.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

using namespace imwatch::agent;

namespace {

struct Listener {
  explicit Listener(int backlog) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, backlog), 0);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
    addr = a;
    port = ntohs(a.sin_port);
  }
  // Connections nobody accepts, until the queue is full (a connect that no
  // longer completes). True once it is.
  bool fill() {
    for (int i = 0; i < 16; ++i) {
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      fillers.push_back(c);
      if (::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) continue;
      pollfd p{c, POLLOUT, 0};
      if (::poll(&p, 1, 300) == 0) return true;
    }
    return false;
  }
  ~Listener() {
    for (int c : fillers) ::close(c);
    ::close(fd);
  }
  int fd, port;
  sockaddr_in addr{};
  std::vector<int> fillers;
};

struct Outcome {
  int fd = -1;
  std::string error;
};

class TcpConnectTest : public ::testing::Test {
 public:
  std::optional<Outcome> run(const std::vector<TcpEndpoint>& to, double timeout, int* passes = nullptr) {
    std::optional<Outcome> out;
    TcpConnector c(loop);
    c.start(to, timeout, [&](int fd, const std::string& error) { out = Outcome{fd, error}; });
    EXPECT_FALSE(out) << "done ran inside start()";
    // A job every 0.1 s stands for the probes: it must keep running.
    int ticks = 0;
    loop.add_job(0.1, [&] { ++ticks; });
    const double deadline = clock.now() + timeout + 5;
    while (!out && clock.now() < deadline) loop.run_once(0.5);
    if (passes) *passes = ticks;
    return out;
  }
  SystemClock clock;
  PollWaiter waiter;
  EventLoop loop{clock, waiter};
};

TEST_F(TcpConnectTest, ConnectsAndHandsOverABlockingSocket) {
  Listener l(8);
  auto out = run({{"127.0.0.1", l.port}}, 5);
  ASSERT_TRUE(out);
  ASSERT_GE(out->fd, 0) << out->error;
  EXPECT_EQ(::fcntl(out->fd, F_GETFL) & O_NONBLOCK, 0);  // gloox expects blocking I/O
  ::close(out->fd);
}

TEST_F(TcpConnectTest, ARefusedAddressFallsThroughToTheNext) {
  Listener closed(1);
  int dead_port = closed.port;
  ::close(closed.fd);
  closed.fd = ::socket(AF_INET, SOCK_STREAM, 0);  // for the destructor
  Listener l(8);
  auto out = run({{"127.0.0.1", dead_port}, {"127.0.0.1", l.port}}, 5);
  ASSERT_TRUE(out);
  EXPECT_GE(out->fd, 0) << out->error;
  if (out->fd >= 0) ::close(out->fd);
  out = run({{"127.0.0.1", dead_port}}, 5);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->fd, -1);
  EXPECT_NE(out->error.find("Connection refused"), std::string::npos) << out->error;
}

TEST_F(TcpConnectTest, ABlackholeTimesOutWithoutStallingTheLoop) {
  Listener l(0);
  ASSERT_TRUE(l.fill());
  int ticks = 0;
  auto out = run({{"127.0.0.1", l.port}}, 1.5, &ticks);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->fd, -1);
  EXPECT_NE(out->error.find("no TCP connection within"), std::string::npos) << out->error;
  EXPECT_GE(ticks, 10);  // about 15: the 0.1 s job ran all along
}

TEST_F(TcpConnectTest, CancelClosesAndNeverCalls) {
  Listener l(0);
  ASSERT_TRUE(l.fill());
  bool called = false;
  {
    TcpConnector c(loop);
    c.start({{"127.0.0.1", l.port}}, 1, [&](int, const std::string&) { called = true; });
    loop.run_once(0.1);
    EXPECT_TRUE(c.busy());
    c.cancel();
    EXPECT_FALSE(c.busy());
  }
  for (int i = 0; i < 5; ++i) loop.run_once(0.3);
  EXPECT_FALSE(called);
}

TEST_F(TcpConnectTest, AnUnknownNameIsAnError) {
  auto out = run({{"no-such-host.invalid", 5222}}, 2);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->fd, -1);
  EXPECT_NE(out->error.find("cannot resolve 'no-such-host.invalid'"), std::string::npos) << out->error;
}

// A DNS answer with the given SRV records (priority, weight, port, target).
std::vector<unsigned char> srv_answer(const std::vector<std::tuple<int, int, int, std::string>>& records) {
  std::vector<unsigned char> m = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, static_cast<unsigned char>(records.size()),
                                  0,    0,    0,    0};
  auto name = [&](const std::string& n) {
    size_t start = 0;
    while (start < n.size()) {
      size_t dot = n.find('.', start);
      if (dot == std::string::npos) dot = n.size();
      m.push_back(static_cast<unsigned char>(dot - start));
      m.insert(m.end(), n.begin() + static_cast<long>(start), n.begin() + static_cast<long>(dot));
      start = dot + 1;
    }
    m.push_back(0);
  };
  auto u16 = [&](int v) {
    m.push_back(static_cast<unsigned char>(v >> 8));
    m.push_back(static_cast<unsigned char>(v & 0xff));
  };
  name("_xmpp-client._tcp.example.org");
  u16(ns_t_srv);
  u16(ns_c_in);
  for (const auto& [prio, weight, port, target] : records) {
    u16(0xc00c);  // the question's name
    u16(ns_t_srv);
    u16(ns_c_in);
    u16(0);
    u16(300);  // TTL
    u16(target == "." ? 7 : static_cast<int>(6 + target.size() + 2));
    u16(prio);
    u16(weight);
    u16(port);
    if (target == ".")
      m.push_back(0);
    else
      name(target);
  }
  return m;
}

TEST(SrvAnswer, SortedByPriorityThenWeight) {
  auto a = srv_answer(
      {{20, 0, 5223, "backup.example.org"}, {10, 10, 5222, "light.example.org"}, {10, 60, 5222, "heavy.example.org"}});
  auto e = parse_srv_answer(a.data(), static_cast<int>(a.size()));
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].host, "heavy.example.org");
  EXPECT_EQ(e[1].host, "light.example.org");
  EXPECT_EQ(e[2].host, "backup.example.org");
  EXPECT_EQ(e[2].port, 5223);
}

TEST(SrvAnswer, ServiceNotOfferedAndGarbageAreEmpty) {
  auto a = srv_answer({{0, 0, 0, "."}});
  EXPECT_TRUE(parse_srv_answer(a.data(), static_cast<int>(a.size())).empty());
  a.resize(a.size() - 4);  // truncated
  EXPECT_TRUE(parse_srv_answer(a.data(), static_cast<int>(a.size())).empty());
  EXPECT_TRUE(parse_srv_answer(a.data(), -1).empty());  // what res_query returns on failure
}

TEST(XmppEndpoints, AHostNeedsNoLookup) {
  auto e = xmpp_endpoints("127.0.0.1", 0, "example.org");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].host, "127.0.0.1");
  EXPECT_EQ(e[0].port, 5222);
  e = xmpp_endpoints("", 5300, "example.org");  // a port alone: no SRV either
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].host, "example.org");
  EXPECT_EQ(e[0].port, 5300);
}

}  // namespace
