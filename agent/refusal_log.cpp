#include "agent/refusal_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iterator>

namespace imwatch::agent {

RefusalLog::RefusalLog(std::string what, double period, size_t max_jids)
    : what_(std::move(what)), period_(period), max_jids_(max_jids) {}

std::optional<uint64_t> RefusalLog::admit(std::string_view jid, double now) {
  std::string key(jid);
  auto it = seen_.find(key);
  if (it != seen_.end()) {
    Entry& e = it->second;
    if (now - e.logged_at < period_) {
      ++e.dropped;
      return std::nullopt;
    }
    uint64_t dropped = e.dropped;
    e = Entry{now, 0};
    return dropped;
  }
  if (seen_.size() >= max_jids_) {
    // Entries past their period would be logged again at their next
    // refusal anyway; forgetting them loses only their dropped count.
    for (auto i = seen_.begin(); i != seen_.end();)
      i = now - i->second.logged_at >= period_ ? seen_.erase(i) : std::next(i);
  }
  if (seen_.size() >= max_jids_) {
    // More JIDs refused within one period than we remember: count them all
    // in one line a period, so that neither memory nor the log grows.
    ++untracked_;
    if (!untracked_logged_at_ || now - *untracked_logged_at_ >= period_) {
      spdlog::warn("{} refused from more than {} JIDs in {:.0f} s: {} such refusals not logged one by one", what_,
                   max_jids_, period_, untracked_);
      untracked_logged_at_ = now;
      untracked_ = 0;
    }
    return std::nullopt;
  }
  seen_.emplace(std::move(key), Entry{now, 0});
  return uint64_t{0};
}

std::string RefusalLog::dropped_note(uint64_t dropped) {
  return dropped == 0 ? "" : fmt::format(", {} more dropped since the last such line", dropped);
}

}  // namespace imwatch::agent
