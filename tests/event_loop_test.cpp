#include "agent/event_loop.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>

#include "fakes/fake_clock.h"

using imwatch::agent::EventLoop;
using imwatch::test::FakeClock;

namespace {

TEST(EventLoop, RunsJobsDriftFree) {
  FakeClock clock;
  EventLoop loop(clock, clock);
  std::vector<double> ran;
  loop.add_job(10, [&] {
    ran.push_back(clock.now());
    clock.advance(0.3);  // a slow job must not push the schedule
  });
  for (int i = 0; i < 4; ++i) loop.run_once();
  ASSERT_EQ(ran.size(), 4u);
  EXPECT_DOUBLE_EQ(ran[0], 1000);
  EXPECT_DOUBLE_EQ(ran[1], 1010);
  EXPECT_DOUBLE_EQ(ran[2], 1020);
  EXPECT_DOUBLE_EQ(ran[3], 1030);
  // The loop waited exactly until the next job: 10 s minus the job's 0.3 s.
  EXPECT_NEAR(clock.waits[0], 9.7, 1e-9);
}

TEST(EventLoop, AfterAStallRunsOnceAndSkipsMissedTicks) {
  FakeClock clock;
  EventLoop loop(clock, clock);
  int runs = 0;
  loop.add_job(10, [&] { ++runs; });
  loop.run_once();  // t=1000, then waits until 1010
  EXPECT_EQ(runs, 1);
  clock.advance(55);                                // a suspended VM: now 1065, ticks 1010..1060 missed
  loop.run_once(0);                                 // run what is due, do not wait
  EXPECT_EQ(runs, 2);                               // once, not six times
  EXPECT_DOUBLE_EQ(loop.time_to_next_job(100), 5);  // back on the grid: 1070
}

TEST(EventLoop, CancelFromInsideItsOwnCallback) {
  FakeClock clock;
  EventLoop loop(clock, clock);
  int runs = 0;
  EventLoop::JobId id = 0;
  id = loop.add_job(1, [&] {
    if (++runs == 3) loop.cancel(id);
  });
  for (int i = 0; i < 10; ++i) loop.run_once(5);
  EXPECT_EQ(runs, 3);
  EXPECT_FALSE(loop.has_job(id));
}

TEST(EventLoop, CancelAnotherJobDuringThePass) {
  FakeClock clock;
  EventLoop loop(clock, clock);
  int a = 0, b = 0;
  EventLoop::JobId second = 0;
  loop.add_job(1, [&] {
    ++a;
    loop.cancel(second);
  });
  second = loop.add_job(1, [&] { ++b; });
  loop.run_once();
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);  // cancelled before its turn in the same pass
}

TEST(EventLoop, EveryJobCancelledLeavesAnIdleLoop) {
  FakeClock clock;
  EventLoop loop(clock, clock);
  std::vector<EventLoop::JobId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(loop.add_job(1, [&, i] { loop.cancel(ids[static_cast<size_t>(i)]); }));
  loop.run_once(7);
  EXPECT_EQ(loop.job_count(), 0u);
  loop.run_once(7);  // nothing to run: waits the maximum, touches nothing
  EXPECT_DOUBLE_EQ(clock.waits.back(), 7);
}

TEST(EventLoop, JobAddedDuringAPassWaitsForTheNext) {
  FakeClock clock;
  EventLoop loop(clock, clock);
  int inner = 0;
  bool added = false;
  loop.add_job(5, [&] {
    if (!added) {
      added = true;
      loop.add_job(5, [&] { ++inner; });
    }
  });
  loop.run_once();
  EXPECT_EQ(inner, 0);
  loop.run_once(0);  // the new job was due at once: it runs on the next pass
  EXPECT_EQ(inner, 1);
}

TEST(EventLoop, BeforeWaitRunsEveryPassAndStopEnds) {
  FakeClock clock;
  EventLoop loop(clock, clock);
  int passes = 0;
  loop.set_before_wait([&] {
    if (++passes == 3) loop.stop();
  });
  loop.add_job(1, [] {});
  loop.run();
  EXPECT_EQ(passes, 3);
}

TEST(EventLoop, ReadableDescriptorCallsItsHandler) {
  imwatch::agent::SystemClock clock;
  imwatch::agent::PollWaiter waiter;
  EventLoop loop(clock, waiter);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int called = 0;
  loop.add_fd(p[0], [&] {
    char c;
    EXPECT_EQ(::read(p[0], &c, 1), 1);
    ++called;
  });
  ASSERT_EQ(::write(p[1], "x", 1), 1);
  loop.run_once(5);  // returns at once: the pipe is readable
  EXPECT_EQ(called, 1);
  loop.remove_fd(p[0]);
  ASSERT_EQ(::write(p[1], "y", 1), 1);
  loop.run_once(0);
  EXPECT_EQ(called, 1);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(EventLoop, TimerRunsOnceAtItsTime) {
  FakeClock clock;
  EventLoop loop(clock, clock);
  std::vector<double> ran;
  auto id = loop.add_timer(2.5, [&] { ran.push_back(clock.now()); });
  EXPECT_TRUE(loop.has_job(id));
  EXPECT_DOUBLE_EQ(loop.time_to_next_job(100), 2.5);
  for (int i = 0; i < 5; ++i) loop.run_once(10);
  ASSERT_EQ(ran.size(), 1u);
  EXPECT_DOUBLE_EQ(ran[0], 1002.5);
  EXPECT_FALSE(loop.has_job(id));
  EXPECT_EQ(loop.job_count(), 0u);
  EXPECT_DOUBLE_EQ(clock.waits.back(), 10);  // nothing left to wake up for
}

TEST(EventLoop, TimerCancelledBeforeItRunsNeverRuns) {
  FakeClock clock;
  EventLoop loop(clock, clock);
  int runs = 0;
  auto id = loop.add_timer(1, [&] { ++runs; });
  loop.cancel(id);
  for (int i = 0; i < 3; ++i) loop.run_once(5);
  EXPECT_EQ(runs, 0);
}

TEST(EventLoop, TimerMayArmTheNextOneFromItsCallback) {
  // How a reconnect with back-off re-arms itself: a new timer from inside.
  FakeClock clock;
  EventLoop loop(clock, clock);
  std::vector<double> ran;
  std::function<void()> again = [&] {
    ran.push_back(clock.now());
    if (ran.size() < 3) loop.add_timer(static_cast<double>(ran.size()), again);
  };
  loop.add_timer(0, again);
  for (int i = 0; i < 10; ++i) loop.run_once(10);
  ASSERT_EQ(ran.size(), 3u);
  EXPECT_DOUBLE_EQ(ran[0], 1000);
  EXPECT_DOUBLE_EQ(ran[1], 1001);
  EXPECT_DOUBLE_EQ(ran[2], 1003);
  EXPECT_EQ(loop.job_count(), 0u);
}

TEST(EventLoop, WritableDescriptorCallsItsHandler) {
  imwatch::agent::SystemClock clock;
  imwatch::agent::PollWaiter waiter;
  EventLoop loop(clock, waiter);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int readable = 0, writable = 0;
  loop.add_fd(p[0], [&] { ++readable; });
  loop.add_fd(
      p[1], [&] { ++writable; }, imwatch::agent::FdEvent::writable);
  loop.run_once(5);  // an empty pipe: its write end is writable, its read end not
  EXPECT_EQ(writable, 1);
  EXPECT_EQ(readable, 0);
  loop.remove_fd(p[1]);
  loop.remove_fd(p[0]);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(EventLoop, FakeWaiterSeesWritableInterestAsReadable) {
  // The fakes of the tests and the soak only override wait(): they still
  // work, their descriptors are simply never ready.
  FakeClock clock;
  EventLoop loop(clock, clock);
  int called = 0;
  loop.add_fd(
      42, [&] { ++called; }, imwatch::agent::FdEvent::writable);
  loop.add_timer(3, [] {});
  loop.run_once(10);
  EXPECT_EQ(called, 0);
  EXPECT_DOUBLE_EQ(clock.waits.back(), 3);
}

}  // namespace
