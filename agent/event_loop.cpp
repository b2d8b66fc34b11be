#include "agent/event_loop.h"

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

namespace imwatch::agent {

namespace {
double seconds(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
}  // namespace

double SystemClock::now() const { return seconds(CLOCK_MONOTONIC); }
double SystemClock::wall() const { return seconds(CLOCK_REALTIME); }

void PollWaiter::wait(const std::vector<int>& fds, double timeout, std::vector<bool>& ready) {
  wait_events(fds, std::vector<FdEvent>(fds.size(), FdEvent::readable), timeout, ready);
}

void PollWaiter::wait_events(const std::vector<int>& fds, const std::vector<FdEvent>& events, double timeout,
                             std::vector<bool>& ready) {
  std::vector<pollfd> p;
  p.reserve(fds.size());
  for (size_t i = 0; i < fds.size(); ++i)
    p.push_back(
        {fds[i], static_cast<short>(i < events.size() && events[i] == FdEvent::writable ? POLLOUT : POLLIN), 0});
  // Round up: waking a hair early would only make us poll twice.
  int ms = static_cast<int>(std::ceil(std::max(timeout, 0.0) * 1000));
  int n = ::poll(p.data(), p.size(), ms);
  ready.assign(fds.size(), false);
  if (n <= 0) return;  // timeout, or EINTR: the caller re-checks the time
  // A failed connect shows as POLLERR or POLLHUP: the owner asks SO_ERROR.
  for (size_t i = 0; i < p.size(); ++i) ready[i] = (p[i].revents & (POLLIN | POLLOUT | POLLHUP | POLLERR)) != 0;
}

EventLoop::JobId EventLoop::add_job(double interval, std::function<void()> fn, double first_delay) {
  JobId id = next_id_++;
  jobs_.push_back({id, interval, clock_.now() + first_delay, std::move(fn)});
  return id;
}

EventLoop::JobId EventLoop::add_timer(double delay, std::function<void()> fn) {
  // A job whose interval never matters: it is cancelled before it could repeat.
  JobId id = add_job(delay > 0 ? delay : 1, std::move(fn), delay);
  jobs_.back().once = true;
  return id;
}

void EventLoop::cancel(JobId id) {
  for (auto& j : jobs_)
    if (j.id == id) j.cancelled = true;
}

bool EventLoop::has_job(JobId id) const {
  return std::any_of(jobs_.begin(), jobs_.end(), [&](const Job& j) { return j.id == id && !j.cancelled; });
}

size_t EventLoop::job_count() const {
  return static_cast<size_t>(std::count_if(jobs_.begin(), jobs_.end(), [](const Job& j) { return !j.cancelled; }));
}

void EventLoop::add_fd(int fd, std::function<void()> fn, FdEvent event) { fds_.push_back({fd, std::move(fn), event}); }

void EventLoop::remove_fd(int fd) {
  for (auto& f : fds_)
    if (f.fd == fd) f.removed = true;
}

double EventLoop::time_to_next_job(double max_wait) const {
  double now = clock_.now(), best = max_wait;
  for (const auto& j : jobs_)
    if (!j.cancelled) best = std::min(best, std::max(0.0, j.due - now));
  return best;
}

void EventLoop::run_once(double max_wait) {
  // Jobs added by callbacks during this pass have ids from here on and wait
  // for the next pass (ae's maxId).
  const JobId last_id = next_id_ - 1;
  const double now = clock_.now();
  // By index: callbacks may append to jobs_, which invalidates references.
  for (size_t i = 0; i < jobs_.size(); ++i) {
    if (jobs_[i].cancelled || jobs_[i].id > last_id || jobs_[i].due > now) continue;
    // Reschedule before running, from the due time, not from now: no drift.
    // After a stall, skip to the first tick after now: one run, no burst.
    Job& j = jobs_[i];
    if (j.once) j.cancelled = true;  // before running: the callback may re-arm a new timer
    double missed = std::floor((now - j.due) / j.interval);
    j.due += (missed + 1) * j.interval;
    auto fn = j.fn;  // the callback may cancel (or outlive) its own job
    fn();
  }
  std::erase_if(jobs_, [](const Job& j) { return j.cancelled; });
  std::erase_if(fds_, [](const Fd& f) { return f.removed; });

  if (before_wait_) before_wait_();
  if (stopped_) return;

  std::vector<int> fds;
  std::vector<FdEvent> events;
  for (const auto& f : fds_) {
    fds.push_back(f.fd);
    events.push_back(f.event);
  }
  std::vector<bool> ready;
  waiter_.wait_events(fds, events, time_to_next_job(max_wait), ready);
  // Handlers may add or remove descriptors: copy the ones to call.
  std::vector<std::function<void()>> to_call;
  for (size_t i = 0; i < fds.size() && i < ready.size(); ++i)
    if (ready[i])
      for (const auto& f : fds_)
        if (f.fd == fds[i] && !f.removed) to_call.push_back(f.fn);
  for (auto& fn : to_call) fn();
}

void EventLoop::run() {
  while (!stopped_) run_once();
}

}  // namespace imwatch::agent
