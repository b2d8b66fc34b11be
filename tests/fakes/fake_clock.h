// A clock that moves only when the test (or the loop's wait) says so.
#pragma once

#include <vector>

#include "agent/event_loop.h"

namespace imwatch::test {

class FakeClock final : public agent::Clock, public agent::Waiter {
 public:
  double now() const override { return now_; }
  double wall() const override { return wall_base_ + now_; }
  void advance(double s) { now_ += s; }

  // Waiting just moves time on; descriptors are never ready.
  void wait(const std::vector<int>& fds, double timeout, std::vector<bool>& ready) override {
    waits.push_back(timeout);
    now_ += timeout;
    ready.assign(fds.size(), false);
  }
  std::vector<double> waits;

 private:
  double now_ = 1000;
  double wall_base_ = 1'700'000'000;
};

}  // namespace imwatch::test
