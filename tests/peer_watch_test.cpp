// Who watches whom in the fleet, and what is announced, on a fake clock.
#include "agent/peer_watch.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"

using namespace imwatch::agent;

namespace {

constexpr double kInterval = 2;

// Three agents as web1 sees them: it watches web2 (its successor).
struct Watch : ::testing::Test {
  PeerWatch w{kInterval};
  double now = 100, wall = 1'700'000'000;
  void advance(double s) {
    now += s;
    wall += s;
  }
  void SetUp() override {
    w.set_self("web1", now);
    EXPECT_FALSE(w.present("web2", wall - 86400, now, wall));
    EXPECT_FALSE(w.present("web3", 0, now, wall));
  }
  // One interval: the tick, and an answer from `answering` (if any) to its ping.
  PeerWatch::Tick step(bool answer = true) {
    advance(kInterval);
    auto t = w.tick(now, wall);
    if (answer && t.ping) w.answered(*t.ping, now + 0.01, wall);
    return t;
  }
};

TEST_F(Watch, EachAgentWatchesItsSuccessor) {
  auto t = step();
  ASSERT_TRUE(t.ping);
  EXPECT_EQ(*t.ping, "web2");
  EXPECT_TRUE(t.news.empty());
  // The last in the list watches the first.
  PeerWatch w3{kInterval};
  w3.set_self("web3", now);
  w3.present("web1", 0, now, wall);
  w3.present("web2", 0, now, wall);
  EXPECT_EQ(*w3.tick(now, wall).ping, "web1");
  // Alone: nobody to watch.
  PeerWatch alone{kInterval};
  alone.set_self("web1", now);
  EXPECT_FALSE(alone.tick(now, wall).ping);
}

TEST_F(Watch, SilenceIsAnnouncedOnceWithinThreeIntervals) {
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(step().news.empty());
  const double last_seen = wall;
  const double silent_at = now;
  std::vector<PeerNews> news;
  while (news.empty() && now - silent_at < 10 * kInterval) news = step(false).news;
  ASSERT_EQ(news.size(), 1u);
  EXPECT_LE(now - silent_at, 3 * kInterval);
  EXPECT_EQ(news[0].kind, PeerNews::vanished);
  EXPECT_EQ(news[0].nick, "web2");
  EXPECT_EQ(news[0].last_seen, last_seen);
  EXPECT_EQ(news[0].up, last_seen - (1'700'000'000 - 86400));
  // The watch moves on to web3, and web2 is never announced again.
  for (int i = 0; i < 10; ++i) {
    auto t = step();
    EXPECT_TRUE(t.news.empty());
    ASSERT_TRUE(t.ping);
    EXPECT_EQ(*t.ping, "web3");
  }
  // The room finally drops the ghost: nothing more to say.
  w.left("web2", false, now, wall);
  EXPECT_TRUE(step().news.empty());
  // It comes back: announced by us, with how long it was away.
  advance(60);
  auto back = w.present("web2", wall, now, wall);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, PeerNews::back);
  EXPECT_EQ(back->away, wall - last_seen);
  EXPECT_EQ(*step().ping, "web2");
}

TEST_F(Watch, AnErrorAnswerIsGoneAtOnceButOnlyForTheWatchedPeer) {
  step();
  EXPECT_FALSE(w.gone("web3", now, wall)) << "web3 is web2's to watch";
  auto n = w.gone("web2", now, wall);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->nick, "web2");
  EXPECT_FALSE(w.gone("web2", now, wall));
  EXPECT_EQ(*step().ping, "web3");
}

TEST_F(Watch, AGoodbyeIsNotAnnouncedButItsReturnIs) {
  step();
  w.left("web2", true, now, wall);
  auto t = step();
  EXPECT_TRUE(t.news.empty());
  EXPECT_EQ(*t.ping, "web3");
  advance(300);
  auto back = w.present("web2", 0, now, wall);
  ASSERT_TRUE(back) << "web1 is web2's predecessor: it says so";
  EXPECT_EQ(back->away, 300 + kInterval);
  // web3 left cleanly too; its predecessor is web2 now, not us: we say nothing.
  w.left("web3", true, now, wall);
  EXPECT_TRUE(step().news.empty());
  EXPECT_FALSE(w.present("web3", 0, now, wall));
}

TEST_F(Watch, LeavingWithoutAGoodbyeIsAnnouncedByTheWatcherOnly) {
  step();
  w.left("web2", false, now, wall);
  const double left_at = wall;
  auto t = step();  // a full interval later
  ASSERT_EQ(t.news.size(), 1u);
  EXPECT_EQ(t.news[0].kind, PeerNews::vanished);
  EXPECT_EQ(t.news[0].nick, "web2");
  EXPECT_EQ(t.news[0].last_seen, left_at);
  EXPECT_TRUE(step().news.empty()) << "once";
  // web3 is watched by web2 (gone), so web3's predecessor is now us.
  w.left("web3", false, now, wall);
  EXPECT_EQ(step().news.size(), 1u);
  // Another agent's view: web9 watches web1 only; web2 leaving is not its to say.
  PeerWatch other{kInterval};
  other.set_self("web9", now);
  other.present("web1", 0, now, wall);
  other.present("web2", 0, now, wall);
  other.left("web2", false, now, wall);
  for (int i = 0; i < 3; ++i) {
    advance(kInterval);
    auto t = other.tick(now, wall);
    EXPECT_TRUE(t.news.empty()) << "tick " << i;
    if (t.ping) other.answered(*t.ping, now, wall);  // web1 is alive
  }
}

// An agent whose own link starved reconnects; the room reports its old
// session as gone without a goodbye, then it joins again. Back within the
// interval: nothing was said, and its return is not news either.
TEST_F(Watch, ALeaveAndRejoinWithinAnIntervalIsNotNews) {
  step();
  w.left("web2", false, now, wall);
  advance(kInterval / 2);
  EXPECT_FALSE(w.present("web2", wall - 86400, now, wall));
  for (int i = 0; i < 5; ++i) {
    auto t = step();
    EXPECT_TRUE(t.news.empty()) << "tick " << i;
    ASSERT_TRUE(t.ping);
    EXPECT_EQ(*t.ping, "web2");
  }
}

// The room's word arrives while our own link is slow (the burst that made
// the peer reconnect delays us too): no verdict until our link is prompt.
TEST_F(Watch, ALeaveIsHeldWhileOurOwnLinkIsInDoubt) {
  step();
  w.link_ping(now);  // unanswered: in doubt after a quarter interval
  w.left("web2", false, now, wall);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(step(false).news.empty()) << "tick " << i;
  w.link_pong(now + 0.01);  // late: still in doubt
  EXPECT_TRUE(step().news.empty());
  w.link_ping(now);
  w.link_pong(now + 0.01);  // prompt
  auto t = step();
  ASSERT_EQ(t.news.size(), 1u);
  EXPECT_EQ(t.news[0].nick, "web2");
  EXPECT_TRUE(step().news.empty());
}

// We lost the room ourselves while the peer's departure waited: still ours
// to say once we are back in and it is not.
TEST_F(Watch, AWaitingLeaveSurvivesOurOwnRejoin) {
  step();
  w.left("web2", false, now, wall);
  w.clear();
  advance(kInterval / 2);
  w.set_self("web1", now);
  w.present("web3", 0, now, wall);
  auto t = step();
  ASSERT_EQ(t.news.size(), 1u);
  EXPECT_EQ(t.news[0].nick, "web2");
}

// A busy server delays our own pings as much as the peer's answers: no verdict
// then. Once our link answers promptly again, the peer is pinged once more and
// announced exactly once if it is still silent.
TEST_F(Watch, ASilentPeerIsNotAnnouncedWhileOurOwnPingIsLate) {
  step();
  w.link_ping(now);
  w.link_pong(now + 0.01);
  EXPECT_FALSE(w.link_in_doubt(now));
  // The server stalls: our own ping (to the server, to our occupant) goes unanswered too.
  w.link_ping(now);
  for (int i = 0; i < 8; ++i) {
    auto t = step(false);
    EXPECT_TRUE(w.link_in_doubt(now));
    EXPECT_TRUE(t.news.empty()) << "tick " << i << ": the server is slow, not web2";
    ASSERT_TRUE(t.ping);
    EXPECT_EQ(*t.ping, "web2") << "still watched, still pinged";
  }
  // Our link answers, but late (the backlog): still in doubt.
  w.link_pong(now + kInterval);
  EXPECT_TRUE(w.link_in_doubt(now));
  EXPECT_TRUE(step(false).news.empty());
  // A prompt answer: our link is well. web2 is re-pinged first, not announced yet.
  w.link_ping(now);
  w.link_pong(now + 0.01);
  EXPECT_FALSE(w.link_in_doubt(now));
  auto t = step(false);
  EXPECT_TRUE(t.news.empty()) << "re-pinged before any verdict";
  ASSERT_TRUE(t.ping);
  EXPECT_EQ(*t.ping, "web2");
  // Still silent at the next tick, with our link well: announced, once.
  auto v = step(false);
  ASSERT_EQ(v.news.size(), 1u);
  EXPECT_EQ(v.news[0].kind, PeerNews::vanished);
  EXPECT_EQ(v.news[0].nick, "web2");
  for (int i = 0; i < 5; ++i) {
    auto after = step(false);
    for (const auto& n : after.news) EXPECT_NE(n.nick, "web2") << "web2 is said once";
  }
}

TEST_F(Watch, APeerThatAnswersOnceOurLinkIsBackIsNotAnnounced) {
  step();
  w.link_ping(now);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(step(false).news.empty());
  w.link_pong(now + 0.01);  // the burst is over; web2's late answer arrives too
  w.answered("web2", now + 0.02, wall);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(step().news.empty());
}

// On a healthy server (our pings answered at once) the bound is unchanged.
TEST_F(Watch, AHealthyLinkKeepsTheThreeIntervalBound) {
  for (int i = 0; i < 3; ++i) step();
  const double silent_at = now;
  std::vector<PeerNews> news;
  while (news.empty() && now - silent_at < 10 * kInterval) {
    news = step(false).news;
    w.link_ping(now);
    w.link_pong(now + 0.01);
  }
  ASSERT_EQ(news.size(), 1u);
  EXPECT_LE(now - silent_at, 3 * kInterval);
}

TEST_F(Watch, WhatARoomCanMakeUsStoreIsBounded) {
  PeerWatch small{kInterval, 4};
  small.set_self("a", now);
  for (int i = 0; i < 100; ++i) small.present("n" + std::to_string(i), 0, now, wall);
  EXPECT_EQ(small.tracked(), 4u);
}

}  // namespace
