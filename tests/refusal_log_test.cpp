// RefusalLog: one line per JID and period, the dropped count, bounded memory.
#include "agent/refusal_log.h"

#include <gtest/gtest.h>

#include "fakes/log_capture.h"

using namespace imwatch::agent;

namespace {

TEST(RefusalLog, OncePerJidAndPeriodWithTheCountDroppedSince) {
  RefusalLog log("chat", 3600, 10);
  ASSERT_TRUE(log.admit("mallory@evil.example", 0));
  EXPECT_EQ(*log.admit("eve@evil.example", 1), 0u);  // another JID: its own line
  for (int i = 0; i < 500; ++i) EXPECT_FALSE(log.admit("mallory@evil.example", 1 + i));
  EXPECT_FALSE(log.admit("mallory@evil.example", 3599.9));
  EXPECT_EQ(*log.admit("mallory@evil.example", 3600), 501u);
  EXPECT_FALSE(log.admit("mallory@evil.example", 3601));
  EXPECT_EQ(*log.admit("mallory@evil.example", 7300), 1u);
  EXPECT_EQ(*log.admit("mallory@evil.example", 20000), 0u);
}

TEST(RefusalLog, DroppedNote) {
  EXPECT_EQ(RefusalLog::dropped_note(0), "");
  EXPECT_EQ(RefusalLog::dropped_note(41), ", 41 more dropped since the last such line");
}

TEST(RefusalLog, ManyJidsCostBoundedMemoryAndOneLineAPeriod) {
  imwatch::test::LogCapture capture;
  RefusalLog log("subscription", 3600, 100);
  int admitted = 0;
  for (int i = 0; i < 10000; ++i) admitted += log.admit("s" + std::to_string(i) + "@x.example", 1).has_value();
  EXPECT_EQ(admitted, 100);
  EXPECT_EQ(log.remembered(), 100u);
  // The 9,900 others: one line, at the first of them.
  auto lines = capture.take();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0],
            "warning subscription refused from more than 100 JIDs in 3600 s: 1 such refusals not logged one by one");
  for (int i = 0; i < 1000; ++i) log.admit("t" + std::to_string(i) + "@x.example", 2);
  EXPECT_TRUE(capture.take().empty());
  // A period later the old entries make room (and the overflow count is told).
  EXPECT_TRUE(log.admit("new@x.example", 3601).has_value());
  EXPECT_EQ(log.remembered(), 1u);
  for (int i = 0; i < 200; ++i) log.admit("u" + std::to_string(i) + "@x.example", 3602);
  lines = capture.take();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(": 10900 such refusals"), std::string::npos) << lines[0];
  EXPECT_EQ(log.remembered(), 100u);
}

}  // namespace
