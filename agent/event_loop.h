// One thread, one loop, in the shape of redis' ae: run the jobs that are due,
// then wait for I/O at most until the next job is due.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace imwatch::agent {

// Time as the loop sees it. Tests substitute a fake that only moves when told.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() const = 0;   // monotonic seconds: schedules, `for` timers
  virtual double wall() const = 0;  // Unix time: what messages and saved state say
};

class SystemClock final : public Clock {
 public:
  double now() const override;
  double wall() const override;
};

// What a descriptor is watched for.
enum class FdEvent { readable, writable };

// Waits for file descriptors to become ready. The loop's only blocking
// call; a fake advances a fake clock instead of sleeping.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // Waits at most `timeout` seconds (0: just look) for any of `fds` to be
  // readable; sets ready[i]. Returns early on a signal.
  virtual void wait(const std::vector<int>& fds, double timeout, std::vector<bool>& ready) = 0;
  // The same, with each descriptor watched for `events[i]`. A Waiter that
  // only knows readability (the test fakes) gets them all as readable.
  virtual void wait_events(const std::vector<int>& fds, const std::vector<FdEvent>& events, double timeout,
                           std::vector<bool>& ready) {
    (void)events;
    wait(fds, timeout, ready);
  }
};

class PollWaiter final : public Waiter {
 public:
  void wait(const std::vector<int>& fds, double timeout, std::vector<bool>& ready) override;
  void wait_events(const std::vector<int>& fds, const std::vector<FdEvent>& events, double timeout,
                   std::vector<bool>& ready) override;
};

class EventLoop {
 public:
  using JobId = uint64_t;

  EventLoop(Clock& clock, Waiter& waiter) : clock_(clock), waiter_(waiter) {}
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs `fn` every `interval` seconds, first after `first_delay`. Jobs are
  // drift-free (next due = previous due + interval); after a stall a job runs
  // once and skips the ticks it missed, no burst. A job added from inside a
  // callback waits for the next pass.
  JobId add_job(double interval, std::function<void()> fn, double first_delay = 0);
  // Runs `fn` once, `delay` seconds from now (ae's AE_NOMORE, libuv's
  // repeat = 0); then it is gone. Cancel it like a job, also from inside.
  JobId add_timer(double delay, std::function<void()> fn);
  // Safe from inside any callback, including the job's own: it only marks.
  void cancel(JobId id);
  bool has_job(JobId id) const;

  // Calls `fn` whenever `fd` is ready for `event` (a socket connecting in
  // the background waits for writable). A descriptor is watched once.
  void add_fd(int fd, std::function<void()> fn, FdEvent event = FdEvent::readable);
  void remove_fd(int fd);

  // Runs after the due jobs of a pass, before the loop waits: where the
  // state changes of one pass are sent as one message.
  void set_before_wait(std::function<void()> fn) { before_wait_ = std::move(fn); }

  // One pass: due jobs, before-wait, then wait for I/O at most until the next
  // job (never longer than max_wait) and handle what became readable.
  void run_once(double max_wait = 3600);
  void run();  // passes until stop()
  void stop() { stopped_ = true; }
  bool stopped() const { return stopped_; }

  // Seconds until the earliest job is due (0 if overdue), or max_wait if none.
  double time_to_next_job(double max_wait) const;
  size_t job_count() const;

 private:
  struct Job {
    JobId id;
    double interval;
    double due;
    std::function<void()> fn;
    bool cancelled = false;
    bool once = false;  // a timer: cancelled once it has run
  };
  struct Fd {
    int fd;
    std::function<void()> fn;
    FdEvent event;
    bool removed = false;
  };

  Clock& clock_;
  Waiter& waiter_;
  // Unsorted, like ae's time events: a handful of jobs, O(N) is nothing.
  std::vector<Job> jobs_;
  std::vector<Fd> fds_;
  JobId next_id_ = 1;
  std::function<void()> before_wait_;
  bool stopped_ = false;
};

}  // namespace imwatch::agent
