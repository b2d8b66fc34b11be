// XEP-0050 ad-hoc commands end to end: the agent binary against a real
// prosody, and a real client library (slixmpp's XEP-0050 and XEP-0004,
// tests/xmpp/adhoc_client.py) as the admin and as a stranger: the list,
// single-stage and form commands, the two-stage `set thresholds`, a
// cancelled session, hostile values, and a stranger who gets nothing.
#include "agent/adhoc_forms.h"
#include "agent_fixture.h"

namespace imwatch::test {
namespace {

class Adhoc : public AgentXmpp {
 public:
  // The client's steps, "STEP: what happened" per line.
  std::string run_client(const std::string& user, const std::string& scenario) {
    auto r = run_process({"/usr/bin/python3", std::string(IMWATCH_TESTS_DIR) + "/xmpp/adhoc_client.py", "--jid",
                          user + "@test.local", "--password", user + "-pw", "--port", std::to_string(server.port()),
                          "--ca-file", server.ca_file(), "--to", "agent@test.local/web1", "--scenario", scenario},
                         90);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    return r.out;
  }
  static std::string step(const std::string& out, const std::string& name) {
    size_t at = out.find(name + ": ");
    if (at == std::string::npos) return "<no step " + name + ">";
    size_t end = out.find('\n', at);
    return out.substr(at + name.size() + 2, end - at - name.size() - 2);
  }
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST_F(Adhoc, AnAdminListsExecutesFillsFormsAndCancels) {
  set_memory_used(85);  // memory fires: #1 for ack to offer
  auto agent = start_agent();
  ASSERT_NE(agent->wait_for_line("notify: web1: WARNING memory", 10), "") << log(*agent);
  std::string out = run_client("alice", "admin");

  EXPECT_EQ(step(out, "disco"), "commands");
  // One node per command of the registry, and `set`: the registry's list.
  std::vector<std::string> nodes;
  for (const auto& n : agent::adhoc_nodes()) nodes.push_back(n.node);
  std::sort(nodes.begin(), nodes.end());
  std::string expected;
  for (const auto& n : nodes) expected += (expected.empty() ? "" : " ") + n;
  EXPECT_EQ(step(out, "list"), expected);
  for (const char* node : {"ack", "alerts", "graph", "help", "load", "mem", "mute", "ping", "set", "reset"})
    EXPECT_TRUE(has(" " + expected + " ", std::string(" ") + node + " ")) << expected;
  EXPECT_EQ(step(out, "ping"), "status=completed reply='pong' notes=''");
  std::string form = step(out, "mute-form");
  EXPECT_TRUE(has(form, "status=executing")) << form;
  EXPECT_TRUE(has(form, "('rule', ('list-single', 'all', ['all', 'memory']))")) << form;
  EXPECT_TRUE(has(form, "('duration', ('text-single', '1h', []))")) << form;
  EXPECT_EQ(step(out, "mute-done"), "status=completed reply='muted memory for 2h' notes=''");
  EXPECT_NE(agent->wait_for_line("ad-hoc: 'mute 2h memory' from alice@test.local: muted memory for 2h", 5), "");

  EXPECT_EQ(step(out, "ack-form"), "alert options=['1']");
  EXPECT_TRUE(has(step(out, "ack-done"), "reply='acknowledged #1:")) << step(out, "ack-done");

  EXPECT_EQ(step(out, "set-1"), "status=executing rule options=['memory']");
  EXPECT_EQ(step(out, "set-2"), "rule=memory warn=80 crit=95 for=0 clear=75 repeat=1h");
  // The registry's `set`: an override, by the admin who submitted the form,
  // of what she changed only (the client sent crit, clear and repeat back
  // as shown: they stay the file's).
  EXPECT_TRUE(has(step(out, "set-done"), "status=completed reply='memory:")) << step(out, "set-done");
  EXPECT_NE(agent->wait_for_line("override memory: warn 85 for 1m (by alice@test.local)", 5), "") << log(*agent);

  EXPECT_EQ(step(out, "cancel"), "status=canceled");
  EXPECT_TRUE(has(step(out, "after-cancel"), "session has ended")) << step(out, "after-cancel");
  EXPECT_TRUE(has(step(out, "smuggled"), "duration: a value with a space")) << step(out, "smuggled");
  EXPECT_TRUE(has(step(out, "oversized"), "duration: a value over 64 bytes")) << step(out, "oversized");
  EXPECT_TRUE(has(step(out, "unknown-rule"), "no rule 'nosuch'")) << step(out, "unknown-rule");
  // None of the refused ones muted anything: still the one mute of memory.
  std::string alerts = step(out, "alerts");
  EXPECT_TRUE(has(alerts, "1 alert, 1 mute")) << alerts;
  EXPECT_EQ(agent->count_lines("ad-hoc: 'mute"), 1u) << log(*agent);
  EXPECT_TRUE(has(step(out, "limit"), "too many command forms open")) << step(out, "limit");
  EXPECT_EQ(step(out, "after-limit"), "status=executing");
}

TEST_F(Adhoc, AStrangerGetsNothingNotEvenTheList) {
  auto agent = start_agent();
  std::string out = run_client("mallory", "stranger");
  EXPECT_EQ(step(out, "disco"), "error service-unavailable");
  EXPECT_EQ(step(out, "list"), "error service-unavailable");
  EXPECT_EQ(step(out, "ping"), "error service-unavailable");
  EXPECT_EQ(step(out, "mute"), "error service-unavailable");
  EXPECT_EQ(agent->count_lines("ad-hoc:"), 0u);
}

}  // namespace
}  // namespace imwatch::test
