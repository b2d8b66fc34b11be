// The integration flow of the agent binary against a real prosody, for a
// run under a wrapper such as valgrind (tests/soak/valgrind_flow.sh):
//
//   connect; an alert fires (fixture rewrite) and reaches the admin; the
//   admin sends every command (status, load, mem, vmstat, psi, alerts,
//   rules, help, ping, ack, mute, unmute, an unknown one); a stranger is
//   refused; the alert escalates and resolves; SIGHUP reload; prosody is
//   restarted while a new alert fires (it waits in the outbox and is
//   delivered after the reconnect); it resolves; SIGTERM, exit status 0.
//
// IMWATCH_WRAPPER (words split at spaces) is put before the agent's argv,
// e.g. "valgrind --tool=memcheck ...". Every wait is bounded and generous
// (valgrind slows the agent 20-50x); IMWATCH_FLOW_TIMEOUT_SCALE multiplies
// them. The agent is started through `setpriv --pdeathsig KILL`, so it dies
// with this program; it and prosody are stopped by PID, and the temp dir
// goes, also on failure. Exit 0 when every step passed and the agent exited
// 0 (under valgrind with --error-exitcode, that includes "no memcheck
// error, no definite or indirect leak"); 1 otherwise.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fixture_tree.h"
#include "run_process.h"
#include "tests/support/prosody_server.h"
#include "tests/support/xmpp_test_client.h"

namespace fs = std::filesystem;
using namespace imwatch::test;
using namespace std::chrono_literals;

namespace {

const std::string kBinary = IMWATCH_BINARY;
const std::string kFixtures = IMWATCH_FIXTURES;
double g_scale = 1;
int g_failures = 0;

std::chrono::milliseconds scaled(double seconds) {
  return std::chrono::milliseconds(static_cast<long>(seconds * g_scale * 1000));
}

bool check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++g_failures;
  return ok;
}

class Flow {
 public:
  Flow() {
    dir = server.dir() + "/agent";
    fs::create_directories(dir);
    fs::copy(kFixtures + "/proc/no-swap", dir + "/proc", fs::copy_options::recursive);
    write_meminfo_used(dir + "/proc", 50);
    std::ofstream(dir + "/password") << "agent-pw\n";
    std::ofstream(dir + "/imwatch.conf")
        << "proc-root = " << dir << "/proc\nstate-dir = " << dir << "/state\nhostname = web1\nlog-level = info\n"
        << "[probe.loadavg]\ninterval = 1s\n[probe.meminfo]\ninterval = 1s\n[probe.vmstat]\ninterval = 1s\n"
        << "[probe.pressure]\ninterval = 1s\n[alert]\nrule = memory: mem_used_pct > 80 crit 95 clear 75\n"
        << "[xmpp]\njid = agent@test.local\npassword_file = " << dir
        << "/password\nhost = 127.0.0.1\nport = " << server.port()
        << "\nresource = web1\nadmin = alice@test.local\nca_file = " << server.ca_file() << "\nping_interval = 2s\n";
  }

  // The agent's stderr is a pipe: read it while waiting for anything else,
  // or a chatty agent would block on a full pipe.
  std::optional<ReceivedMessage> wait_msg(TestClient& c, const std::string& needle, double seconds,
                                          size_t from_index = 0) {
    const auto deadline = std::chrono::steady_clock::now() + scaled(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = c.wait_for_message(
          [&](const ReceivedMessage& r) {
            return static_cast<size_t>(&r - c.messages().data()) >= from_index &&
                   r.body.find(needle) != std::string::npos;
          },
          100ms);
      if (m) return m;
      agent->drain(0.01);
    }
    return std::nullopt;
  }
  std::string wait_line(const std::string& needle, double seconds) {
    return agent->wait_for_line(needle, seconds * g_scale);
  }
  // Sends `cmd` and waits for a reply containing `expect`.
  bool ask(TestClient& c, const std::string& cmd, const std::string& expect) {
    size_t before = c.messages().size();
    c.send_chat("agent@test.local", cmd);
    auto m = wait_msg(c, expect, 30, before);
    return check(m.has_value(), "'" + cmd + "' answered with '" + expect + "'");
  }
  std::string log_tail() const {
    std::string s;
    const auto& l = agent->lines();
    for (size_t i = l.size() > 30 ? l.size() - 30 : 0; i < l.size(); ++i) s += "  | " + l[i] + "\n";
    return s;
  }

  ProsodyServer server;
  std::string dir;
  std::unique_ptr<ChildProcess> agent;
};

int run() {
  if (const char* s = std::getenv("IMWATCH_FLOW_TIMEOUT_SCALE")) g_scale = std::max(0.1, std::atof(s));
  std::vector<std::string> argv = {"/usr/bin/setpriv", "--pdeathsig", "KILL"};
  if (const char* w = std::getenv("IMWATCH_WRAPPER")) {
    std::istringstream words(w);
    for (std::string x; words >> x;) argv.push_back(x);
  }
  Flow f;
  if (!check(f.server.ok(), "test certificates") || !check(f.server.start(), "prosody started")) {
    std::printf("%s\n", f.server.error().c_str());
    return 1;
  }
  for (const char* u : {"agent", "alice", "mallory"})
    if (!check(f.server.register_user(u, std::string(u) + "-pw"), std::string("registered ") + u)) return 1;
  argv.insert(argv.end(), {kBinary, "--config", f.dir + "/imwatch.conf"});
  std::string shown;
  for (const auto& a : argv) shown += " " + a;
  std::printf("agent:%s\n", shown.c_str());
  const auto t0 = std::chrono::steady_clock::now();
  f.agent = std::make_unique<ChildProcess>(argv);
  if (!check(f.wait_line("xmpp: connected", 60) != "", "agent connected")) {
    std::printf("%s", f.log_tail().c_str());
    return 1;
  }

  TestClient alice("alice@test.local", "alice-pw", f.server);
  if (!check(alice.connect(scaled(20)), "admin connected")) return 1;
  alice.subscribe("agent@test.local");

  write_meminfo_used(f.dir + "/proc", 85);
  check(f.wait_msg(alice, "WARNING memory: mem_used_pct 85 > 80 #1", 30).has_value(), "alert #1 reached the admin");
  f.ask(alice, "status", "web1, up");
  f.ask(alice, "load", "/CPU");
  f.ask(alice, "mem", "used");
  f.ask(alice, "vmstat", "procs");
  f.ask(alice, "psi", "memory");
  f.ask(alice, "alerts", "#1 WARNING memory");
  f.ask(alice, "rules", "memory: mem_used_pct > 80");
  f.ask(alice, "help", "commands:");
  f.ask(alice, "ping", "pong");
  f.ask(alice, "ack 1", "acknowledged #1");
  f.ask(alice, "mute 10m memory", "muted memory for 10m");
  f.ask(alice, "unmute memory", "unmuted memory");
  f.ask(alice, "frobnicate", "unknown command");
  {
    TestClient mallory("mallory@test.local", "mallory-pw", f.server);
    if (check(mallory.connect(scaled(20)), "stranger connected")) {
      mallory.send_chat("agent@test.local", "status");
      check(f.wait_msg(mallory, "not authorised", 30).has_value(), "stranger refused");
      mallory.disconnect();
    }
  }
  write_meminfo_used(f.dir + "/proc", 97);
  check(f.wait_msg(alice, "CRITICAL memory", 30).has_value(), "alert #1 escalated");
  write_meminfo_used(f.dir + "/proc", 40);
  check(f.wait_msg(alice, "RESOLVED memory", 30).has_value(), "alert #1 resolved");

  f.agent->signal(SIGHUP);
  check(f.wait_line("reloaded:", 30) != "", "SIGHUP reload");
  {
    // A reload that changes the resource: a fresh gloox client and TLS
    // session replace the old ones, which must be freed.
    std::ifstream in(f.dir + "/imwatch.conf");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    text.replace(text.find("resource = web1\n"), 16, "resource = web1b\n");
    std::ofstream(f.dir + "/imwatch.conf") << text;
  }
  f.agent->signal(SIGHUP);
  check(f.wait_line("connected as agent@test.local/web1b", 30) != "", "reconnected after a reload (new resource)");
  f.ask(alice, "ping", "pong");

  // Prosody restarted once, with an alert raised while it is down.
  f.server.stop();
  check(f.wait_line("link lost", 30) != "", "agent noticed the server stop");
  check(alice.wait_until([&] { return !alice.connected(); }, scaled(10)), "admin noticed the server stop");
  write_meminfo_used(f.dir + "/proc", 85);
  std::this_thread::sleep_for(scaled(2));
  if (!check(f.server.start(), "prosody restarted")) return 1;
  check(alice.connect(scaled(20)), "admin reconnected");
  auto m = f.wait_msg(alice, "WARNING memory: mem_used_pct 85 > 80 #2", 90);
  check(m.has_value(), "alert #2, raised while the server was down, delivered after the reconnect");
  write_meminfo_used(f.dir + "/proc", 40);
  check(f.wait_msg(alice, "RESOLVED memory", 30, alice.messages().size()).has_value(), "alert #2 resolved");
  f.ask(alice, "status", "web1, up");

  f.agent->signal(SIGTERM);
  int status = f.agent->wait_exit(120 * g_scale);  // valgrind's leak check takes a while
  check(status == 0, "agent exited 0 on SIGTERM (exit status " + std::to_string(status) + ")");
  std::printf("flow took %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (g_failures) std::printf("agent log (last lines):\n%s", f.log_tail().c_str());
  return g_failures ? 1 : 0;
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  ::signal(SIGPIPE, SIG_IGN);
  try {
    int rc = run();
    std::printf("valgrind_flow: %s\n", rc == 0 ? "PASS" : "FAIL");
    return rc;
  } catch (const std::exception& e) {
    std::printf("valgrind_flow: FAIL: %s\n", e.what());
    return 1;
  }
}
