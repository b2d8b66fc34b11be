// The fixture of the tests that run the agent binary against a real prosody
// on 127.0.0.1 with a real admin client (alice); shared by the files of
// tests/xmpp/ that need it.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "fixture_tree.h"
#include "run_process.h"
#include "tests/support/prosody_server.h"
#include "tests/support/xmpp_test_client.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace imwatch::test {

using Duration = TestClient::Duration;

inline const std::string kBinary = IMWATCH_BINARY;
inline const std::string kFixtures = IMWATCH_FIXTURES;

inline bool contains(const ReceivedMessage& m, const std::string& s) { return m.body.find(s) != std::string::npos; }

class AgentXmpp : public ::testing::Test {
 public:
  void SetUp() override {
    ASSERT_TRUE(server.ok()) << server.error();
    ASSERT_TRUE(server.start()) << server.error();
    ASSERT_TRUE(server.register_user("agent", "agent-pw"));
    ASSERT_TRUE(server.register_user("alice", "alice-pw"));
    ASSERT_TRUE(server.register_user("mallory", "mallory-pw"));
    dir = server.dir() + "/agent";
    fs::create_directories(dir);
    fs::copy(kFixtures + "/proc/no-swap", dir + "/proc", fs::copy_options::recursive);
    std::ofstream(dir + "/password") << "agent-pw\n";
    set_memory_used(50);
    write_config("agent-pw");
  }

  void replace(const std::string& path, const std::string& text) { imwatch::test::replace_file(path, text); }
  void set_memory_used(int pct) { imwatch::test::write_meminfo_used(dir + "/proc", pct); }
  void write_config(const std::string& password, const std::string& extra = "") {
    std::ofstream(dir + "/password") << password << "\n";
    replace(dir + "/imwatch.conf",
            "proc-root = " + dir + "/proc\nstate-dir = " + dir +
                "/state\nhostname = web1\nlog-level = debug\n"
                "[probe.loadavg]\ninterval = 1s\n[probe.meminfo]\ninterval = 1s\n[probe.vmstat]\ninterval = 1s\n"
                "[probe.pressure]\ninterval = 1s\n[alert]\nrule = memory: mem_used_pct > 80 crit 95 clear 75\n"
                "[xmpp]\njid = " +
                agent_user + "@test.local\npassword_file = " + dir +
                "/password\nhost = 127.0.0.1\nport = " + std::to_string(server.port()) + "\nresource = web1\n" +
                admin_lines() + "ca_file = " + server.ca_file() + "\nping_interval = 2s\n" + extra);
  }
  std::unique_ptr<ChildProcess> start_agent() {
    auto a = std::make_unique<ChildProcess>(std::vector<std::string>{kBinary, "--config", dir + "/imwatch.conf"});
    EXPECT_NE(a->wait_for_line("xmpp: connected", 15), "") << log(*a);
    return a;
  }
  std::unique_ptr<TestClient> admin() {
    auto c = std::make_unique<TestClient>("alice@test.local", "alice-pw", server);
    EXPECT_TRUE(c->connect());
    return c;
  }
  std::optional<ReceivedMessage> wait(TestClient& c, const std::string& s, Duration t = 10s) {
    return c.wait_for_message([&](const ReceivedMessage& m) { return contains(m, s); }, t);
  }
  size_t count(TestClient& c, const std::string& s) {
    size_t n = 0;
    for (const auto& m : c.messages()) n += contains(m, s);
    return n;
  }
  std::string ask(TestClient& c, const std::string& cmd, const std::string& expect) {
    size_t before = c.messages().size();
    c.send_chat("agent@test.local", cmd);
    auto m = c.wait_for_message(
        [&](const ReceivedMessage& r) {
          return &r - c.messages().data() >= static_cast<long>(before) && contains(r, expect);
        },
        5s);
    return m ? m->body : "";
  }
  static std::string log(const ChildProcess& p) {
    std::string s;
    for (const auto& l : p.lines()) s += l + "\n";
    return s;
  }

  std::string admin_lines() const {
    std::string out;
    for (const auto& a : admins) out += "admin = " + a + "@test.local\n";
    return out;
  }

  ProsodyServer server;
  std::string dir;
  // What write_config() writes: the agent's account and the admins.
  std::string agent_user = "agent";
  std::vector<std::string> admins = {"alice"};
};

}  // namespace imwatch::test
