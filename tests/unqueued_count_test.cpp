// UnqueuedCount: the server's XEP-0198 acks translated into gloox's numbering
// when some stanzas bypass gloox's queue.
#include "agent/xmpp/unqueued_count.h"

#include <gtest/gtest.h>

using imwatch::agent::UnqueuedCount;

namespace {

TEST(UnqueuedCount, NothingUnqueuedTranslatesNothing) {
  UnqueuedCount c;
  EXPECT_EQ(c.translate(0), 0);
  EXPECT_EQ(c.translate(7), 7);
}

TEST(UnqueuedCount, AcksSkipTheUnqueuedStanzasBeforeThem) {
  // Sent, in order: q1 q2 u u u q3 u q4 (q: queued, gloox numbers 1..4;
  // u: unqueued). Server positions: q1=1 q2=2 u=3,4,5 q3=6 u=7 q4=8.
  UnqueuedCount c;
  c.sent(2);
  c.sent(2);
  c.sent(2);
  c.sent(3);
  EXPECT_EQ(c.pending_runs(), 2u);
  EXPECT_EQ(c.translate(2), 2);  // q1 q2
  EXPECT_EQ(c.translate(4), 2);  // and two of the three u: still q2
  EXPECT_EQ(c.translate(5), 2);
  EXPECT_EQ(c.translate(6), 3);  // q3
  EXPECT_EQ(c.translate(7), 3);
  EXPECT_EQ(c.pending_runs(), 0u);  // nothing kept once acknowledged
  EXPECT_EQ(c.translate(8), 4);     // q4
}

TEST(UnqueuedCount, AFloodCostsOneRun) {
  UnqueuedCount c;
  for (int i = 0; i < 100000; ++i) c.sent(5);
  EXPECT_EQ(c.pending_runs(), 1u);
  EXPECT_EQ(c.translate(50005), 5);  // half the flood acknowledged
  EXPECT_EQ(c.pending_runs(), 1u);
  EXPECT_EQ(c.translate(100006), 6);  // the flood, then queued #6
  EXPECT_EQ(c.pending_runs(), 0u);
}

TEST(UnqueuedCount, ResetStartsANewSession) {
  UnqueuedCount c;
  c.sent(0);
  c.sent(0);
  EXPECT_EQ(c.translate(2), 0);
  c.reset();
  EXPECT_EQ(c.translate(3), 3);
  c.sent(3);
  EXPECT_EQ(c.translate(4), 3);
}

}  // namespace
