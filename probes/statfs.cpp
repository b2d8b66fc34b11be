#include "probes/statfs.h"

#include <sys/statvfs.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "probes/text.h"

namespace imwatch::probes {

namespace {

struct Job {
  std::string path;
  bool started = false, done = false, abandoned = false;
  StatfsResult result;
  size_t* pending = nullptr;  // the batch's count of jobs not done; null once abandoned
};

StatfsResult call_statfs(const std::string& path) {
  StatfsResult r;
  struct statvfs st {};
  int rc = 0;
  do rc = ::statvfs(path.c_str(), &st);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    r.error = "statfs " + quote(path) + ": " + std::strerror(errno);
    return r;
  }
  r.status = StatfsResult::ok;
  r.stats = {st.f_frsize ? st.f_frsize : st.f_bsize, st.f_blocks, st.f_bfree, st.f_bavail, st.f_files, st.f_ffree};
  return r;
}

}  // namespace

struct ThreadedStatfs::Shared {
  std::mutex mu;
  std::condition_variable work, finished;
  std::deque<std::shared_ptr<Job>> queue;
  std::set<std::string> stuck;  // paths whose abandoned call has not returned
  size_t threads = 0, running = 0;
  bool stop = false;

  // A worker: takes jobs until stopped. Holds `self` so that it may outlive
  // the ThreadedStatfs (a call stuck in the kernel cannot be joined).
  static void worker(const std::shared_ptr<Shared>& self) {
    std::unique_lock lock(self->mu);
    for (;;) {
      self->work.wait(lock, [&] { return self->stop || !self->queue.empty(); });
      if (self->queue.empty()) break;  // stopped
      auto job = self->queue.front();
      self->queue.pop_front();
      job->started = true;
      ++self->running;
      lock.unlock();
      StatfsResult r = call_statfs(job->path);
      lock.lock();
      --self->running;
      job->result = std::move(r);
      job->done = true;
      if (job->abandoned) self->stuck.erase(job->path);
      if (job->pending && --*job->pending == 0) {
        // Woken with the lock released, the caller does not wake only to
        // wait for it (a futex round trip less per sample).
        lock.unlock();
        self->finished.notify_one();
        lock.lock();
      }
    }
    --self->threads;
  }
};

ThreadedStatfs::ThreadedStatfs(size_t threads, double deadline)
    : shared_(std::make_shared<Shared>()), max_threads_(std::max<size_t>(threads, 1)), deadline_(deadline) {}

ThreadedStatfs::~ThreadedStatfs() {
  std::lock_guard lock(shared_->mu);
  shared_->stop = true;
  shared_->work.notify_all();
}

size_t ThreadedStatfs::stuck() const {
  std::lock_guard lock(shared_->mu);
  return shared_->stuck.size();
}

std::vector<StatfsResult> ThreadedStatfs::stat_all(const std::vector<std::string>& paths) {
  std::vector<StatfsResult> out(paths.size());
  std::vector<std::shared_ptr<Job>> jobs(paths.size());
  Shared& s = *shared_;
  std::unique_lock lock(s.mu);
  size_t pending = 0;
  const bool all_stuck = s.stuck.size() >= max_threads_;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (s.stuck.count(paths[i])) {
      out[i] = {StatfsResult::stuck, {}, "statfs " + quote(paths[i]) + ": still no answer to an earlier call"};
    } else if (all_stuck) {
      out[i] = {StatfsResult::busy, {}, "statfs " + quote(paths[i]) + ": not asked, every worker is stuck on another mount"};
    } else {
      jobs[i] = std::make_shared<Job>();
      jobs[i]->path = paths[i];
      jobs[i]->pending = &pending;
      s.queue.push_back(jobs[i]);
      ++pending;
    }
  }
  // Enough threads for the queue, at most max_threads_ in all.
  while (s.threads < max_threads_ && s.threads - s.running < s.queue.size()) {
    ++s.threads;
    std::thread([sh = shared_] { Shared::worker(sh); }).detach();
  }
  // Notified with the lock released (see the worker); one worker per job.
  const size_t asked = pending;
  lock.unlock();
  if (asked == 1)
    s.work.notify_one();
  else
    s.work.notify_all();
  lock.lock();
  s.finished.wait_for(lock, std::chrono::duration<double>(deadline_), [&] { return pending == 0; });
  for (size_t i = 0; i < paths.size(); ++i) {
    Job* j = jobs[i].get();
    if (!j) continue;
    j->pending = nullptr;  // `pending` dies with this call
    if (j->done) {
      out[i] = std::move(j->result);
    } else if (j->started) {
      j->abandoned = true;
      s.stuck.insert(j->path);
      out[i] = {StatfsResult::timed_out, {},
                "statfs " + quote(paths[i]) + ": no answer within " + std::to_string(static_cast<int>(deadline_ * 1000)) + " ms"};
    } else {
      std::erase(s.queue, jobs[i]);
      out[i] = {StatfsResult::busy, {}, "statfs " + quote(paths[i]) + ": not asked in time, the workers were busy"};
    }
  }
  return out;
}

}  // namespace imwatch::probes
