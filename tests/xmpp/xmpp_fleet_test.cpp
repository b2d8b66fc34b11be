// The fleet's room against a real prosody with its MUC component: three
// agent binaries (web1, web2, web3, each its own account) in one room, two
// admins (alice takes everything, bob only critical) and a stranger
// (mallory) as real gloox clients. ping_interval is 2 s, so the vanish
// bound (3 x ping_interval) is 6 s.
#include <gtest/gtest.h>
#include <gloox/tag.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include "fixture_tree.h"
#include "run_process.h"
#include "tests/fault/proxy.h"
#include "tests/support/prosody_server.h"
#include "tests/support/xmpp_test_client.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace imwatch::test {
namespace {

const std::string kBinary = IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;
using Duration = TestClient::Duration;

// The room side of a test client, with raw stanzas (XEP-0045).
void join(TestClient& c, const std::string& room, const std::string& nick) {
  auto* p = new gloox::Tag("presence");
  p->addAttribute("to", room + "/" + nick);
  new gloox::Tag(p, "x", "xmlns", "http://jabber.org/protocol/muc");
  c.client().send(p);
}
void say(TestClient& c, const std::string& room, const std::string& text) {
  auto* m = new gloox::Tag("message");
  m->addAttribute("to", room);
  m->addAttribute("type", "groupchat");
  new gloox::Tag(m, "body", text);
  c.client().send(m);
}
void say_private(TestClient& c, const std::string& occupant, const std::string& text) {
  auto* m = new gloox::Tag("message");
  m->addAttribute("to", occupant);
  m->addAttribute("type", "chat");
  new gloox::Tag(m, "body", text);
  c.client().send(m);
}
// As the room's owner: an affiliation for a real JID ("outcast" bans).
void affiliate(TestClient& c, const std::string& room, const std::string& jid, const std::string& affiliation) {
  auto* iq = new gloox::Tag("iq");
  iq->addAttribute("to", room);
  iq->addAttribute("type", "set");
  iq->addAttribute("id", "aff" + affiliation);
  auto* q = new gloox::Tag(iq, "query", "xmlns", "http://jabber.org/protocol/muc#admin");
  auto* item = new gloox::Tag(q, "item");
  item->addAttribute("jid", jid);
  item->addAttribute("affiliation", affiliation);
  c.client().send(iq);
}

class Fleet : public ::testing::Test {
 public:
  void SetUp() override {
    ASSERT_TRUE(server.ok()) << server.error();
    server.enable_muc(true);
    ASSERT_TRUE(server.start()) << server.error();
    for (const char* u : {"web1", "web2", "web3", "alice", "bob", "mallory"})
      ASSERT_TRUE(server.register_user(u, std::string(u) + "-pw"));
    room = "ops@" + server.muc_domain();
  }
  void TearDown() override {
    for (auto& a : agents) a.reset();
  }

  std::string dir_of(const std::string& host) { return server.dir() + "/" + host; }
  void set_memory(const std::string& host, int pct) { write_meminfo_used(dir_of(host) + "/proc", pct); }

  // `port`: where the agent connects (a fault proxy), 0 for the server itself.
  std::unique_ptr<ChildProcess> start_agent(const std::string& host, const std::string& room_line = "", int port = 0) {
    const std::string d = dir_of(host);
    if (!fs::exists(d + "/proc")) {
      fs::create_directories(d);
      fs::copy(kFixtures + "/proc/no-swap", d + "/proc", fs::copy_options::recursive);
      write_meminfo_used(d + "/proc", 50);
    }
    std::ofstream(d + "/imwatch.conf")
        << "proc-root = " << d << "/proc\nstate-dir = " << d << "/state\nhostname = " << host
        << "\nlog-level = " << (std::getenv("FLEET_DEBUG") ? "debug" : "info") << "\n[probe.meminfo]\ninterval = 1s\n[probe.loadavg]\ninterval = 1s\n"
           "[alert]\nrule = memory: mem_used_pct > 80 crit 95 clear 75\n[xmpp]\njid = "
        << host << "@test.local\npassword = " << host << "-pw\nhost = 127.0.0.1\nport = " << (port ? port : server.port())
        << "\nresource = " << host << "\nadmin = alice@test.local\nadmin = bob@test.local critical\nca_file = "
        << server.ca_file() << "\nping_interval = 2s\n"
        << (room_line.empty() ? "room = " + room : room_line) << "\n";
    fs::permissions(d + "/imwatch.conf", fs::perms::owner_read | fs::perms::owner_write);
    auto a = std::make_unique<ChildProcess>(std::vector<std::string>{kBinary, "--config", d + "/imwatch.conf"});
    EXPECT_NE(a->wait_for_line("joined room", 15), "") << log(*a);
    return a;
  }
  std::unique_ptr<TestClient> person(const std::string& user, const std::string& nick) {
    auto c = std::make_unique<TestClient>(user + "@test.local", user + "-pw", server);
    EXPECT_TRUE(c->connect());
    join(*c, room, nick);
    (void)c->wait_until([] { return false; }, 300ms);  // a pause: let the join settle
    return c;
  }
  static std::string log(const ChildProcess& p) {
    std::string s;
    for (const auto& l : p.lines()) s += l + "\n";
    return s;
  }
  // Drains every agent's log while `c` waits, so that no pipe fills.
  void pump(TestClient& c, Duration d) {
    auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      c.pump(200ms);
      for (auto& a : agents)
        if (a) a->drain(0);
    }
  }
  // Groupchat messages in `c` from the room containing `s`.
  size_t in_room(TestClient& c, const std::string& s, const std::string& from_nick = "") {
    size_t n = 0;
    for (const auto& m : c.messages())
      n += m.type == "groupchat" && m.body.find(s) != std::string::npos &&
           (from_nick.empty() || m.from == room + "/" + from_nick);
    return n;
  }
  bool wait_room(TestClient& c, const std::string& s, size_t n, Duration t, const std::string& from_nick = "") {
    auto end = std::chrono::steady_clock::now() + t;
    while (std::chrono::steady_clock::now() < end) {
      if (in_room(c, s, from_nick) >= n) return true;
      pump(c, 200ms);
    }
    return in_room(c, s, from_nick) >= n;
  }
  std::string room_log(const TestClient& c) {
    std::string out;
    for (const auto& m : c.messages()) out += m.type + " " + m.from + ": " + m.body + "\n";
    for (const auto& [from, p] : c.presence_history()) out += "presence " + from + ": " + p.show + " " + p.status + "\n";
    for (auto& a : agents)
      if (a) {
        a->drain(0.3);
        out += "---- agent\n" + log(*a);
      }
    return out;
  }
  size_t privately(TestClient& c, const std::string& s) {
    size_t n = 0;
    for (const auto& m : c.messages()) n += m.type != "groupchat" && m.body.find(s) != std::string::npos;
    return n;
  }

  ProsodyServer server;
  std::string room;
  std::vector<std::unique_ptr<ChildProcess>> agents;
};

// Alerts in the room and by severity, addressed and `all:` commands, and
// nothing for a stranger, also one who takes an admin's nick.
TEST_F(Fleet, AlertsCommandsAndStrangers) {
  auto alice = person("alice", "alice");
  auto bob = person("bob", "bob");
  auto mallory = person("mallory", "mallory");
  for (const char* h : {"web1", "web2", "web3"}) agents.push_back(start_agent(h));

  say(*alice, room, "web2: ping");
  ASSERT_TRUE(wait_room(*alice, "pong", 1, 5s, "web2"));
  say(*alice, room, "web1, status");  // the form a client completes a nick to
  ASSERT_TRUE(wait_room(*alice, "web1, up", 1, 5s, "web1")) << log(*agents[0]);

  // `all: status`: every agent, one line of at most 40 columns each.
  say(*alice, room, "all: status");
  ASSERT_TRUE(wait_room(*alice, "load", 3, 5s));
  for (const char* h : {"web1", "web2", "web3"}) {
    size_t n = 0;
    for (const auto& m : alice->messages())
      if (m.type == "groupchat" && m.from == room + "/" + h && std::regex_search(m.body, std::regex("^" + std::string(h) + " +OK +load"))) {
        ++n;
        EXPECT_EQ(m.body.find('\n'), std::string::npos) << m.body;
        EXPECT_LE(m.body.size(), 40u) << m.body;
      }
    EXPECT_EQ(n, 1u) << h;
  }
  // A healthy fleet stays quiet to `all: alerts`.
  say(*alice, room, "all: alerts");
  pump(*alice, 2s);
  EXPECT_EQ(in_room(*alice, ": alerts"), 1u);  // her own line, reflected
  EXPECT_EQ(in_room(*alice, "OK: "), 0u);

  // A warning: in the room and to alice; bob takes only critical.
  set_memory("web2", 90);
  ASSERT_TRUE(wait_room(*alice, "WARNING memory", 1, 10s, "web2"));
  ASSERT_TRUE(alice->wait_for_message([](const ReceivedMessage& m) { return m.type != "groupchat" &&
                                                                           m.body.find("WARNING memory") != std::string::npos; },
                                      5s));
  say(*alice, room, "all: alerts");
  ASSERT_TRUE(wait_room(*alice, "web2  WARN: #", 1, 5s, "web2")) << room_log(*alice);
  pump(*alice, 1s);
  EXPECT_EQ(in_room(*alice, "WARN: #"), 1u) << "only the host with alerts answers";
  set_memory("web2", 97);
  ASSERT_TRUE(wait_room(*alice, "CRITICAL memory", 1, 10s, "web2"));
  ASSERT_TRUE(bob->wait_for_message([](const ReceivedMessage& m) { return m.type != "groupchat" &&
                                                                         m.body.find("CRITICAL memory") != std::string::npos; },
                                    5s));
  EXPECT_EQ(privately(*bob, "WARNING memory"), 0u);

  // Who did what: told in the room and to the other admins, not to her.
  say(*alice, room, "web2: ack 1");
  ASSERT_TRUE(wait_room(*alice, "alice acked #1 (memory) on web2", 1, 5s, "web2")) << room_log(*alice);
  ASSERT_TRUE(bob->wait_for_message([](const ReceivedMessage& m) { return m.type != "groupchat" &&
                                                                         m.body.find("alice acked #1") != std::string::npos; },
                                    5s));
  say(*alice, room, "web2: alerts");
  ASSERT_TRUE(wait_room(*alice, "acked by alice", 1, 5s, "web2")) << room_log(*alice);
  EXPECT_EQ(privately(*alice, "alice acked"), 0u);
  // bob mutes and unmutes from his private chat with the agent: the room
  // and alice hear of it, bob does not hear of his own doing.
  bob->send_chat("web1@test.local", "mute 1h memory");
  ASSERT_TRUE(wait_room(*alice, "bob muted memory on web1 for 1h", 1, 5s, "web1")) << room_log(*alice);
  ASSERT_TRUE(alice->wait_for_message([](const ReceivedMessage& m) { return m.type != "groupchat" &&
                                                                           m.body.find("bob muted memory on web1") != std::string::npos; },
                                      5s));
  bob->send_chat("web1@test.local", "unmute memory");
  ASSERT_TRUE(wait_room(*alice, "bob unmuted memory on web1", 1, 5s, "web1")) << room_log(*alice);
  ASSERT_TRUE(alice->wait_for_message([](const ReceivedMessage& m) { return m.type != "groupchat" &&
                                                                           m.body.find("bob unmuted memory on web1") != std::string::npos; },
                                      5s));
  pump(*bob, 500ms);
  EXPECT_EQ(privately(*bob, "bob muted"), 0u);
  EXPECT_EQ(privately(*bob, "bob unmuted"), 0u);

  // The stranger: in the room, privately through it, with an admin's nick.
  const size_t before = alice->messages().size();
  say(*mallory, room, "web1: status");
  say(*mallory, room, "all: status");
  say_private(*mallory, room + "/web1", "status");
  pump(*mallory, 2s);
  join(*mallory, room, "alice-phone");  // a nick change proves nothing either
  pump(*mallory, 500ms);
  say(*mallory, room, "web3: status");
  pump(*alice, 2s);
  for (size_t i = before; i < alice->messages().size(); ++i) {
    const auto& m = alice->messages()[i];
    EXPECT_TRUE(m.from.starts_with(room + "/mallory") || m.from.starts_with(room + "/alice-phone")) << m.from << ": " << m.body;
  }
  // She sees the room, as every occupant does, but nothing is said to her alone.
  for (const auto& m : mallory->messages()) EXPECT_EQ(m.type, "groupchat") << m.from << ": " << m.body;

  // A private message through the room from an admin is answered there.
  say_private(*alice, room + "/web3", "ping");
  ASSERT_TRUE(alice->wait_for_message([&](const ReceivedMessage& m) { return m.type == "chat" && m.from == room + "/web3" &&
                                                                            m.body == "pong"; },
                                      5s));
}

// Nothing raised while an agent is out of the room is lost or sent twice.
TEST_F(Fleet, NothingLostWhileOutOfTheRoom) {
  auto alice = person("alice", "alice");  // the room's owner: she created it
  pump(*alice, 500ms);
  agents.push_back(start_agent("web1"));
  affiliate(*alice, room, "web1@test.local", "outcast");  // banned: out, and refused at each rejoin
  ASSERT_NE(agents[0]->wait_for_line("banned", 10), "") << log(*agents[0]);
  set_memory("web1", 90);
  ASSERT_TRUE(alice->wait_for_message([](const ReceivedMessage& m) { return m.type != "groupchat" &&
                                                                           m.body.find("WARNING memory") != std::string::npos; },
                                      10s));
  pump(*alice, 2s);
  EXPECT_EQ(in_room(*alice, "WARNING memory"), 0u);
  affiliate(*alice, room, "web1@test.local", "none");
  ASSERT_TRUE(wait_room(*alice, "WARNING memory", 1, 40s, "web1")) << log(*agents[0]);
  pump(*alice, 3s);
  EXPECT_EQ(in_room(*alice, "WARNING memory"), 1u);
}

// A SIGKILLed agent is announced once, within 3 x ping_interval; a clean
// stop says goodbye and is announced by nobody; a return is announced.
TEST_F(Fleet, VanishGoodbyeAndReturn) {
  auto alice = person("alice", "alice");
  for (const char* h : {"web1", "web2", "web3"}) agents.push_back(start_agent(h));
  pump(*alice, 3s);  // every watch has seen an answer
  agents[2]->signal(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_room(*alice, "web3 vanished without a goodbye", 1, 15s)) << room_log(*alice);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_LE(took, 3 * 2 + 2.0) << "the bound is 3 x ping_interval (with 2 s of slack)";
  std::printf("fleet: web3 announced vanished %.2f s after its SIGKILL (ping_interval 2 s)\n", took);
  ASSERT_TRUE(alice->wait_for_message([](const ReceivedMessage& m) { return m.type != "groupchat" &&
                                                                           m.body.find("web3 vanished") != std::string::npos; },
                                      5s));
  pump(*alice, 6s);
  EXPECT_EQ(in_room(*alice, "web3 vanished"), 1u);
  EXPECT_EQ(privately(*alice, "web3 vanished"), 1u);

  // web3 comes back (its ghost is replaced): announced with how long it was away.
  agents[2] = start_agent("web3");
  ASSERT_TRUE(wait_room(*alice, "web3 is back after", 1, 10s));

  // A clean stop: its goodbye, and no vanish message.
  agents[1]->signal(SIGTERM);
  EXPECT_EQ(agents[1]->wait_exit(10), 0);
  ASSERT_TRUE(wait_room(*alice, "web2 stopping: SIGTERM", 1, 5s, "web2"));
  pump(*alice, 8s);
  EXPECT_EQ(in_room(*alice, "web2 vanished"), 0u);
  EXPECT_EQ(privately(*alice, "web2 vanished"), 0u) << "a clean stop pages nobody";
  EXPECT_EQ(privately(*alice, "web2 stopping"), 0u);
}

// The watcher's own death hands its watch over: web1 watches web2, web2
// watches web3; killing web2 and then web3 announces each once.
TEST_F(Fleet, TheWatchMovesOn) {
  auto alice = person("alice", "alice");
  for (const char* h : {"web1", "web2", "web3"}) agents.push_back(start_agent(h));
  pump(*alice, 3s);
  agents[1]->signal(SIGKILL);
  ASSERT_TRUE(wait_room(*alice, "web2 vanished", 1, 15s));
  pump(*alice, 3s);
  agents[2]->signal(SIGKILL);
  ASSERT_TRUE(wait_room(*alice, "web3 vanished", 1, 15s));
  pump(*alice, 5s);
  EXPECT_EQ(in_room(*alice, "web2 vanished"), 1u);
  EXPECT_EQ(in_room(*alice, "web3 vanished"), 1u);
  EXPECT_EQ(in_room(*alice, "web1: web"), 2u) << "both by web1";
}

// A link cut through the fault proxy (stalled: no FIN, no RST, and no new
// connection gets through): exactly one other agent announces it within
// 3 x ping_interval, nobody announces anything else (the cut agent's own
// watch sees its own ping late too and gives no verdict), and its return
// is announced.
TEST_F(Fleet, AStalledLinkVanishesOnce) {
  FaultProxy proxy(server.port());
  ASSERT_TRUE(proxy.start()) << proxy.error();
  auto alice = person("alice", "alice");
  for (const char* h : {"web1", "web2"}) agents.push_back(start_agent(h));
  agents.push_back(start_agent("web3", "", proxy.port()));
  pump(*alice, 3s);
  proxy.refuse(true);
  proxy.stall();
  const auto stalled = std::chrono::steady_clock::now();
  ASSERT_TRUE(wait_room(*alice, "web3 vanished without a goodbye", 1, 15s)) << room_log(*alice);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - stalled).count();
  EXPECT_LE(took, 3 * 2 + 2.0) << "the bound is 3 x ping_interval (with 2 s of slack)";
  std::printf("fleet: web3 announced vanished %.2f s after its link stalled (ping_interval 2 s)\n", took);
  pump(*alice, 8s);
  EXPECT_EQ(in_room(*alice, "web3 vanished"), 1u) << room_log(*alice);
  EXPECT_EQ(in_room(*alice, "vanished"), 1u) << "nobody else is said gone";
  EXPECT_EQ(in_room(*alice, "web2: web3 vanished"), 1u) << "by its watcher, web2";

  // The path comes back and the agent is restarted: its return is announced, once.
  proxy.refuse(false);
  proxy.release_stalled();
  agents[2]->signal(SIGKILL);
  agents[2]->wait_exit(10);
  agents[2] = start_agent("web3", "", proxy.port());
  ASSERT_TRUE(wait_room(*alice, "web3 is back after", 1, 10s)) << room_log(*alice);
  pump(*alice, 5s);
  EXPECT_EQ(in_room(*alice, "web3 is back after"), 1u);
  EXPECT_EQ(in_room(*alice, "vanished"), 1u) << room_log(*alice);
}

// A link reset under an agent (RST both ways: a NAT timeout, a restarted
// firewall): it reconnects, resumes its session and rejoins at once. Its
// leave and join are a reconnect, not a disappearance: nobody announces it
// vanished, nor back, and it answers room commands as before (a resumed
// session's bare join had left it without the occupant list or status 100:
// it took the room for semi-anonymous and answered nothing).
TEST_F(Fleet, AReconnectIsNotAVanishing) {
  FaultProxy proxy(server.port());
  ASSERT_TRUE(proxy.start()) << proxy.error();
  auto alice = person("alice", "alice");
  for (const char* h : {"web1", "web2"}) agents.push_back(start_agent(h));
  agents.push_back(start_agent("web3", "", proxy.port()));
  pump(*alice, 3s);
  proxy.drop();
  ASSERT_NE(agents[2]->wait_for_line("link lost", 10), "") << room_log(*alice);
  // prosody still holds the session (XEP-0198): the agent resumes it, and
  // a join would be a mere presence update there; it leaves and joins.
  ASSERT_NE(agents[2]->wait_for_line("stream resumed", 15), "") << room_log(*alice);
  ASSERT_NE(agents[2]->wait_for_line("joined room", 15), "") << room_log(*alice);
  pump(*alice, 8s);  // four ping intervals: any verdict would be out
  EXPECT_EQ(in_room(*alice, "vanished"), 0u) << room_log(*alice);
  EXPECT_EQ(in_room(*alice, "is back after"), 0u) << room_log(*alice);
  say(*alice, room, "web3: ping");
  EXPECT_TRUE(wait_room(*alice, "pong", 1, 5s, "web3")) << room_log(*alice);
}

// A taken nick: the agent joins as web1-2 and answers to that name.
TEST_F(Fleet, ATakenNickBecomesNick2) {
  auto alice = person("alice", "alice");
  auto mallory = person("mallory", "web1");
  pump(*alice, 500ms);
  agents.push_back(start_agent("web1"));
  EXPECT_NE(agents[0]->wait_for_line("as 'web1-2'", 5), "") << log(*agents[0]);
  say(*alice, room, "web1-2: ping");
  ASSERT_TRUE(wait_room(*alice, "pong", 1, 5s, "web1-2")) << room_log(*alice);
  // The stranger holding its configured nick gets nothing from it.
  say(*mallory, room, "web1-2: status");
  pump(*alice, 1s);
  EXPECT_EQ(in_room(*alice, "up "), 0u);
}

// A semi-anonymous room: the agents cannot see who speaks, so they answer
// nobody (an admin neither), and say why once.
// In a room that shows real JIDs, a stranger who takes an admin's nick
// while she is away is still a stranger: the agent goes by the real JID.
TEST_F(Fleet, AStrangerWithAnAdminsNickGetsNothing) {
  agents.push_back(start_agent("web1"));
  auto bob = person("bob", "bob");
  auto mallory = person("mallory", "alice");
  say(*mallory, room, "web1: status");
  say(*mallory, room, "all: status");
  say_private(*mallory, room + "/web1", "status");
  pump(*bob, 3s);
  for (const auto& m : bob->messages())
    EXPECT_NE(m.from, room + "/web1") << "web1 answered the false alice: " << m.body;
  for (const auto& m : mallory->messages()) EXPECT_NE(m.from, room + "/web1") << m.body;
  // The real one is answered, under any nick.
  say(*bob, room, "web1: ping");
  EXPECT_TRUE(wait_room(*bob, "pong", 1, 5s, "web1")) << log(*agents[0]);
}

TEST_F(Fleet, SemiAnonymousRoomAnswersNoCommands) {
  auto alice = std::make_unique<TestClient>("alice@test.local", "alice-pw", server);
  ASSERT_TRUE(alice->connect());
  // Her own room, configured to show real JIDs to moderators only.
  room = "anon@" + server.muc_domain();
  join(*alice, room, "al");  // so that the stranger can take her usual nick
  pump(*alice, 500ms);
  auto* iq = new gloox::Tag("iq");
  iq->addAttribute("to", room);
  iq->addAttribute("type", "set");
  iq->addAttribute("id", "cfg1");
  auto* q = new gloox::Tag(iq, "query", "xmlns", "http://jabber.org/protocol/muc#owner");
  auto* x = new gloox::Tag(q, "x", "xmlns", "jabber:x:data");
  x->addAttribute("type", "submit");
  auto* f = new gloox::Tag(x, "field");
  f->addAttribute("var", "FORM_TYPE");
  new gloox::Tag(f, "value", "http://jabber.org/protocol/muc#roomconfig");
  f = new gloox::Tag(x, "field");
  f->addAttribute("var", "muc#roomconfig_whois");
  new gloox::Tag(f, "value", "moderators");
  alice->client().send(iq);
  pump(*alice, 500ms);
  agents.push_back(start_agent("web1", "room = " + room));
  EXPECT_NE(agents[0]->wait_for_line("hides real JIDs", 5), "") << log(*agents[0]);
  auto mallory = person("mallory", "alice");  // an admin's nick proves nothing
  say(*alice, room, "web1: ping");
  say(*mallory, room, "web1: ping");
  pump(*alice, 3s);
  EXPECT_EQ(in_room(*alice, "pong"), 0u);
  EXPECT_EQ(agents[0]->count_lines("hides real JIDs"), 1u);
}

}  // namespace
}  // namespace imwatch::test
