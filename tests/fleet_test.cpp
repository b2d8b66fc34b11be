// The fleet without XMPP: who a room line is for, and which lines go to a
// destination with a least severity.
#include "agent/fleet.h"

#include <gtest/gtest.h>

#include "agent/outbox.h"

using namespace imwatch::agent;

TEST(Addressed, OneAgentOrAll) {
  EXPECT_EQ(addressed("web1: status", "web1").to, Addressed::me);
  EXPECT_EQ(addressed("web1: status", "web1").command, "status");
  EXPECT_EQ(addressed("Web1,  mute 1h load ", "web1").command, "mute 1h load");
  EXPECT_EQ(addressed("all: status", "web1").to, Addressed::all);
  EXPECT_EQ(addressed("ALL:alerts", "web1").to, Addressed::all);
  EXPECT_EQ(addressed("web1-2: status", "web1-2", "web1").to, Addressed::me);
  EXPECT_EQ(addressed("web1: status", "web1-2", "web1").to, Addressed::me);
  for (const char* s : {"web2: status", "status", "web1:", "web1:   ", ": status", "web1 status", "", ":",
                        "web11: status", "we: b1: status"})
    EXPECT_EQ(addressed(s, "web1").to, Addressed::nobody) << s;
  EXPECT_EQ(addressed(std::string(100, 'x') + ": status", std::string(100, 'x')).to, Addressed::nobody);
}

TEST(Routing, ByTheLeastSeverityOfADestination) {
  Event warn{.kind = Event::fired, .rule = "load", .severity = Severity::warning, .id = 1};
  Event crit{.kind = Event::escalated, .rule = "mem", .severity = Severity::critical, .previous = Severity::warning,
             .id = 2};
  Event crit_resolved{.kind = Event::resolved, .rule = "mem", .severity = Severity::ok,
                      .previous = Severity::critical, .id = 2};
  Event probe{.kind = Event::probe_failing, .rule = "vmstat"};
  Event vanished{.kind = Event::peer_vanished, .rule = "web3"};
  Notification n{1'700'000'000, "web1", {warn, crit, crit_resolved, probe, vanished}};
  EXPECT_EQ(routed(n, MinSeverity::all).events.size(), 5u);
  EXPECT_EQ(routed(n, MinSeverity::warning).events.size(), 4u);  // no probe failure
  auto c = routed(n, MinSeverity::critical);
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].kind, Event::escalated);
  EXPECT_EQ(c.events[1].kind, Event::resolved) << "what follows from a critical alert";
  EXPECT_EQ(c.events[2].kind, Event::peer_vanished);
  EXPECT_TRUE(routed(n, MinSeverity::none).events.empty());

  Outbox box("web1", 100, "t");
  box.add(n);
  const OutboxMessage& m = box.messages().front();
  EXPECT_EQ(routed_text(m, MinSeverity::all), m.text);
  const std::string critical = routed_text(m, MinSeverity::critical);
  EXPECT_EQ(critical.find("load"), std::string::npos) << critical;
  EXPECT_NE(critical.find("web3 vanished"), std::string::npos) << critical;
  EXPECT_EQ(routed_text(m, MinSeverity::none), "");
}
