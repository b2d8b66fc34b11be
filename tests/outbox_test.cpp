#include "agent/outbox.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>

using namespace imwatch::agent;

namespace {

Notification note(const std::string& host, std::vector<Event> events, double wall) {
  return {wall, format_notification(host, events), events};
}

Event ev(Event::Kind k, const std::string& rule, uint64_t id) {
  Event e;
  e.kind = k;
  e.rule = rule;
  e.id = id;
  e.severity = k == Event::resolved ? Severity::ok : Severity::warning;
  e.metric = "load1";
  e.op = ">";
  e.threshold = 1;
  e.value = 2;
  e.duration = 60;
  return e;
}

TEST(Outbox, LeavesOnlyWhenAcknowledged) {
  Outbox o("web1", 1000, "p");
  o.add(note("web1", {ev(Event::fired, "load", 1)}, 100));
  auto s = o.to_send(200);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->text, "web1: WARNING load: load1 2 > 1 for 1m #1");
  o.mark_sent(s[0]->id, 7);
  EXPECT_TRUE(o.to_send(200).empty());  // in flight
  o.link_lost();                        // no answer: it goes again, same id
  auto again = o.to_send(300);
  ASSERT_EQ(again.size(), 1u);
  std::string id = again[0]->id;
  o.mark_sent(id, 8);
  EXPECT_EQ(o.acknowledge(7), 0u);  // an older round trip proves nothing
  EXPECT_EQ(o.acknowledge(8), 1u);
  EXPECT_EQ(o.size(), 0u);
}

TEST(Outbox, IdsAreUniqueAcrossProcesses) {
  std::set<std::string> ids;
  for (int p = 0; p < 50; ++p) {
    Outbox o("h", 10, random_id_prefix());
    for (int i = 0; i < 20; ++i) ids.insert(o.new_id());
  }
  EXPECT_EQ(ids.size(), 1000u);
}

TEST(Outbox, FiredAndResolvedWhileDownBecomeOneLine) {
  Outbox o("web1", 1000, "p");
  o.add(note("web1", {ev(Event::fired, "load", 1), ev(Event::fired, "memory", 2)}, 100));
  o.add(note("web1", {ev(Event::resolved, "load", 1)}, 200));
  auto s = o.to_send(300);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0]->text, "web1: while undelivered, 1 alert fired and resolved: load #1");
  EXPECT_EQ(s[0]->wall, 100);
  EXPECT_EQ(s[1]->text, "web1: WARNING memory: load1 2 > 1 for 1m #2");
}

TEST(Outbox, BoundedWithOneDroppedLine) {
  Outbox o("web1", 10, "p");
  for (uint64_t i = 1; i <= 25; ++i) o.add(note("web1", {ev(Event::reminder, "load", i)}, static_cast<double>(i)));
  EXPECT_EQ(o.size(), 10u);
  EXPECT_EQ(o.dropped(), 15u);
  auto s = o.to_send(100);
  ASSERT_EQ(s.size(), 11u);
  EXPECT_EQ(s[0]->text, "web1: 15 notifications dropped while the link was down (outbox limit 10)");
  EXPECT_NE(s[1]->text.find("#16"), std::string::npos);  // the newest are kept
}

TEST(Outbox, SurvivesARestartAndRejectsCorruptFiles) {
  char tmpl[] = "/tmp/imwatch-outbox-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  {
    Outbox o("web1", 1000, "p");
    o.add(note("web1", {ev(Event::fired, "load", 1), ev(Event::fired, "mem", 2)}, 100));
    o.save(dir + "/outbox");
  }
  Outbox o("web1", 1000, "q");
  o.load(dir + "/outbox");
  auto s = o.to_send(200);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]->id, "p-1");  // the same id as before the restart
  EXPECT_EQ(s[0]->text, "web1: 2 changes\nWARNING load: load1 2 > 1 for 1m #1\nWARNING mem: load1 2 > 1 for 1m #2");
  EXPECT_EQ(s[0]->wall, 100);

  for (std::string bad : {"", "imwatch-outbox 1\nmsg\tx\n", "imwatch-outbox 1\nmsg\ti\t1\tt\\q\t\tl\n",
                          "imwatch-outbox 1\ncounter\t1", "junk\n"}) {
    Outbox b("web1", 1000, "r");
    EXPECT_NE(b.parse(bad), "") << bad;
    EXPECT_EQ(b.size(), 0u);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
