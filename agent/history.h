// Recent history of every metric, in memory, without a database: the last
// hour at the probes' resolution and the last 48 hours at 5-minute
// resolution (min, average, max), in fixed rings. What `graph`, the alert
// sparklines and the `status` trend read.
//
// The hour ring holds one slot per probe interval after the newest sample
// (so jitter in when a probe runs makes no gap); the 48 h ring is indexed by
// wall-clock time (bucket = floor(t / 300)). A silence (the agent was down,
// the probe failed, the value was unknown) leaves gaps. Unknown is never stored as 0: a gap is NaN
// in a ring and a space in a sparkline.
//
// Memory per metric (sizeof(Series), checked by a static_assert below and
// shown by tests/bench/history_bench.cpp): 360 floats (1440 B) for the hour,
// 576 buckets of float min, float max and a 16-bit average quantised between
// them (5760 B) for the 48 hours, and the bucket being filled: 7264 B, under
// the 8 KiB budget. Floats keep 7 significant digits: a 64 GiB host's kB
// counters lose a few kB, which no graph shows. The average as 16 bits of
// its bucket's [min, max] range is exact for a flat bucket and within 1/65535
// of the range otherwise.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace imwatch::agent {

inline constexpr size_t kFineSlots = 360;    // one hour at the default 10 s
inline constexpr size_t kCoarseSlots = 576;  // 48 h of 5-minute buckets
inline constexpr double kCoarseStep = 300;
inline constexpr size_t kMaxCells = 32;  // the widest sparkline

// What a sparkline cell or a summary says about a stretch of time: the
// lowest, the average and the highest known value; NaN throughout when
// nothing is known (a gap).
struct Cell {
  float min = std::numeric_limits<float>::quiet_NaN();
  float avg = std::numeric_limits<float>::quiet_NaN();
  float max = std::numeric_limits<float>::quiet_NaN();
  uint32_t count = 0;  // samples or buckets merged
  bool known() const { return count > 0; }
  void add(float lo, float mean, float hi, uint32_t n = 1);
};

// One metric's rings.
class Series {
 public:
  static constexpr int64_t kNone = std::numeric_limits<int64_t>::min();

  // `step`: the probe's interval in seconds (1 s to 1 h).
  explicit Series(double step = 10);

  float step() const { return step_; }
  // A new interval (reload): the hour ring no longer lines up and is
  // cleared; the 48 h ring is kept.
  void set_step(double step);

  // One sample at wall time `wall`; unknown or not finite: a gap. A sample
  // older than the newest one (the clock went back) is dropped; a jump back
  // by more than the rings hold starts them afresh.
  void record(double wall, std::optional<double> value);

  // `cells` cells (at most kMaxCells) over (now - span, now]: from the hour
  // ring when it covers the span, else from the 5-minute buckets. Fewer
  // cells when the span holds fewer slots.
  std::vector<Cell> window(double now, double span, size_t cells) const;
  // The whole span in one cell.
  Cell summary(double now, double span) const;
  // The newest sample if it is at most two steps old.
  std::optional<double> current(double now) const;
  // Wall time of the newest known data, or nothing.
  std::optional<double> newest() const;
  // The least-squares slope (per second) of the known samples in
  // (now - span, now] (the 5-minute averages when the hour ring does not
  // cover the span), or nothing when fewer than `min_points` are known or
  // they cover less than `min_cover` seconds.
  std::optional<double> slope(double now, double span, double min_cover, size_t min_points) const;

 private:
  friend class History;
  // record()'s steps: true when a clock gone back drops the sample; the hour
  // ring; the 5-minute bucket being filled.
  bool clock_went_back(double wall, int64_t bucket);
  void record_fine(double wall, float v, bool known);
  void record_coarse(double wall, int64_t bucket, float v, bool known);
  // "" or what is wrong with a series read from a file (the invariants
  // record() and window() rely on).
  std::string check() const;
  void commit_bucket();
  float bucket_avg(size_t i) const;
  // Visits (lo, avg, hi) of every known slot or bucket in [first, last].
  template <class F>
  void fine_range(double from, double to, F&& f) const;
  template <class F>
  void coarse_range(int64_t first, int64_t last, F&& f) const;

  float step_;
  uint32_t fine_head_ = 0;  // the newest slot of fine_
  // Wall time of the newest slot (NaN: none); the slot k before it stands
  // for fine_last_t_ - k * step_.
  double fine_last_t_ = std::numeric_limits<double>::quiet_NaN();
  double last_known_ = std::numeric_limits<double>::quiet_NaN();  // newest known sample
  int64_t coarse_last_ = kNone;                                   // newest bucket committed (floor(t / 300))
  int64_t acc_bucket_ = kNone;                                    // the bucket being filled
  double acc_sum_ = 0;
  uint32_t acc_n_ = 0;  // known samples in it
  float acc_min_ = 0, acc_max_ = 0;
  std::array<float, kFineSlots> fine_;
  std::array<float, kCoarseSlots> cmin_, cmax_;
  std::array<uint16_t, kCoarseSlots> cavg_;
};
static_assert(sizeof(Series) <= 8192, "the history budget is 8 KiB per metric");

// The history of every metric, by name.
class History {
 public:
  // Bounds memory (and the file) whatever names come: 512 x 7 KiB = 3.6 MiB.
  static constexpr size_t kMaxSeries = 512;
  static constexpr size_t kMaxFile = kMaxSeries * (sizeof(Series) + 300) + 64;

  // Records one sample of `metric`, whose probe samples every `step`
  // seconds. A metric seen for the first time gets a series (unless there
  // are kMaxSeries already: then it has no history).
  void record(std::string_view metric, double step, double wall, std::optional<double> value);
  const Series* find(std::string_view metric) const;
  size_t size() const { return series_.size(); }
  std::vector<std::string> names() const;
  // Forgets metrics with no data in the last 48 h (a probe removed, a metric
  // renamed by an upgrade): they would only be gaps.
  void prune(double wall);

  // The file: a magic line "imwatch-history 1", then one binary record per
  // metric (little-endian), then history_checksum() of everything before it.
  std::string serialize() const;
  // Replaces the content with `data`'s; "" or what is wrong with it (then
  // nothing changes).
  [[nodiscard]] std::string parse(std::string_view data);

  // The state dir's file, via state_dir.h: "" or the error. load() on a
  // missing file is not an error.
  [[nodiscard]] std::string save(const std::string& path) const;
  [[nodiscard]] std::string load(const std::string& path);

 private:
  std::map<std::string, std::unique_ptr<Series>, std::less<>> series_;
};

// ▁▂▃▄▅▆▇█, one character per cell (at most kMaxCells), each cell's average
// scaled between the lowest and highest cell average; a gap is a space; a
// flat series is all ▁.
std::string sparkline(std::span<const Cell> cells);

// 0.42, 97.5, 1234, 16.0M: at most 6 characters for any value a probe gives,
// so that a line of min, avg, max and now fits 40 columns.
std::string compact_value(double v);

// The checksum that ends a history file (FNV-1a over 64-bit words).
uint64_t history_checksum(std::string_view data);

// The chat's `graph [NAME|WORD] [DURATION]` (args[0] is "graph"); `history`
// may be null (no history kept).
std::string graph_reply(const std::vector<std::string>& args, const History* history, const std::string& host,
                        double wall);

// fs_full_in_hours: hours until `avail_now` bytes are used up at the rate
// fitted on the history of `avail_metric` (fs_avail_bytes{/var}) over the
// last kFillSpan; nothing until kFillCover of history is known, and +inf
// (a known "never", not unknown and not a negative number) when the
// filesystem is not filling. History::record keeps +inf as a gap.
inline constexpr double kFillSpan = 6 * 3600.0;
inline constexpr double kFillCover = 3600.0;
std::optional<double> hours_until_full(const History& history, std::string_view avail_metric, double avail_now,
                                       double wall);

// " ▁▂▄▇█▇▆▅" (a leading space): the last 30 minutes of `metric` for an alert
// line (from the first known cell on), or "" when fewer than two cells are
// known.
std::string alert_trend(const History& history, std::string_view metric, double wall);

// "trend 1h: load ▁▂▃▄▅▆▇█ mem ▁▂▃▄▅▆▇█" for `status` (each from its first
// known cell on, as for alerts), or "" when nothing is known yet.
std::string status_trend(const History* history, double wall);

}  // namespace imwatch::agent
