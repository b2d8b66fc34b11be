// XEP-0198 bookkeeping for stanzas sent outside gloox's resend queue.
//
// The server counts every stanza we send and acknowledges with h, the count
// it has handled; gloox numbers only the stanzas it queued (1, 2, ...) and
// frees those numbered up to h. Once some stanzas bypass the queue, the
// server's h runs ahead of gloox's numbers, and gloox would free stanzas the
// server has not seen. This translates h back: it remembers where in the
// server's count each run of unqueued stanzas sits, until an ack covers it.
// Pure logic, so it is tested without a server.
#pragma once

#include <algorithm>
#include <deque>
#include <utility>

namespace imwatch::agent {

class UnqueuedCount {
 public:
  // An unqueued stanza sent after `queued` stanzas were queued (gloox's
  // number of the last one) in this session.
  void sent(long queued) {
    const long position = queued + total_ + 1;  // in the server's count
    if (!runs_.empty() && runs_.back().first + runs_.back().second == position)
      ++runs_.back().second;
    else
      runs_.emplace_back(position, 1);
    ++total_;
  }

  // The server's h in gloox's numbering: h less the unqueued stanzas up to
  // position h. Acks only grow, so what they cover is forgotten.
  long translate(long h) {
    while (!runs_.empty() && runs_.front().first <= h) {
      auto& [start, count] = runs_.front();
      const long covered = std::min(count, h - start + 1);
      acked_ += covered;
      if (covered == count) {
        runs_.pop_front();
      } else {
        start += covered;
        count -= covered;
      }
    }
    return h - acked_;
  }

  // A new session (or a resumed one: gloox restarts its numbering then).
  void reset() {
    total_ = acked_ = 0;
    runs_.clear();
  }

  // Runs not yet acknowledged: the memory this costs.
  size_t pending_runs() const { return runs_.size(); }

 private:
  long total_ = 0, acked_ = 0;
  std::deque<std::pair<long, long>> runs_;  // (first position, count)
};

}  // namespace imwatch::agent
