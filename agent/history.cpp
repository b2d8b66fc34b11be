#include "agent/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "agent/config.h"
#include "agent/messages.h"
#include "agent/state_dir.h"
#include "agent/text_util.h"

namespace imwatch::agent {

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kMaxSpan = kCoarseSlots * kCoarseStep;  // 48 h
// Wall times beyond this (year 5138) are nonsense from a broken clock or a
// forged file; refusing them keeps slot arithmetic far from overflow.
constexpr double kMaxWall = 1e11;
constexpr std::string_view kMagic = "imwatch-history 1\n";

// No libm here: the agent binary links none (text_util.h, round_half_away),
// and trunc compiles to inline code where floor and lround are calls.
int64_t bucket_of(double wall) {
  const double q = wall / kCoarseStep, t = std::trunc(q);
  return static_cast<int64_t>(t > q ? t - 1 : t);
}

// NaN, or a value past long long, is undefined behaviour to cast: a value
// past float's range makes a bucket's mean NaN (the fuzz target found it).
long long round_to_int(double x) {
  if (std::isnan(x)) return 0;
  x = round_half_away(x);
  if (x >= 9.2e18) return std::numeric_limits<long long>::max();
  if (x <= -9.2e18) return std::numeric_limits<long long>::min();
  return static_cast<long long>(x);
}

size_t ring_index(int64_t slot, size_t n) {
  const auto m = static_cast<int64_t>(n);
  return static_cast<size_t>(((slot % m) + m) % m);
}

}  // namespace

void Cell::add(float lo, float mean, float hi, uint32_t n) {
  if (count == 0) {
    min = lo, avg = mean, max = hi, count = n;
    return;
  }
  min = std::min(min, lo);
  max = std::max(max, hi);
  avg = static_cast<float>((static_cast<double>(avg) * count + static_cast<double>(mean) * n) / (count + n));
  count += n;
}

Series::Series(double step) : step_(static_cast<float>(std::clamp(step, 1.0, 3600.0))) {
  fine_.fill(kNaN);
  cmin_.fill(kNaN);
  cmax_.fill(kNaN);
  cavg_.fill(0);
}

void Series::set_step(double step) {
  const auto s = static_cast<float>(std::clamp(step, 1.0, 3600.0));
  if (s == step_) return;
  step_ = s;
  fine_.fill(kNaN);
  fine_last_t_ = std::numeric_limits<double>::quiet_NaN();
  fine_head_ = 0;
}

void Series::commit_bucket() {
  const int64_t k = acc_bucket_;
  if (coarse_last_ == kNone || k - coarse_last_ >= static_cast<int64_t>(kCoarseSlots)) {
    cmin_.fill(kNaN);
    cmax_.fill(kNaN);
  } else {
    for (int64_t b = coarse_last_ + 1; b < k; ++b)
      cmin_[ring_index(b, kCoarseSlots)] = cmax_[ring_index(b, kCoarseSlots)] = kNaN;
  }
  const size_t i = ring_index(k, kCoarseSlots);
  if (acc_n_ == 0) {
    cmin_[i] = cmax_[i] = kNaN;
  } else {
    cmin_[i] = acc_min_;
    cmax_[i] = acc_max_;
    const double range = static_cast<double>(acc_max_) - acc_min_;
    const double mean = acc_sum_ / acc_n_;
    const double q = range > 0 ? (mean - acc_min_) / range * 65535.0 : 0;
    cavg_[i] = static_cast<uint16_t>(std::clamp(round_to_int(q), 0LL, 65535LL));
  }
  coarse_last_ = k;
}

float Series::bucket_avg(size_t i) const {
  const double range = static_cast<double>(cmax_[i]) - cmin_[i];
  return static_cast<float>(cmin_[i] + range * cavg_[i] / 65535.0);
}

void Series::record(double wall, std::optional<double> value) {
  if (!std::isfinite(wall) || wall < 0 || wall > kMaxWall) return;
  const bool known = value && std::isfinite(*value);
  const float v = known ? static_cast<float>(*value) : kNaN;
  const int64_t bucket = bucket_of(wall);
  if (clock_went_back(wall, bucket)) return;
  record_fine(wall, v, known);
  record_coarse(wall, bucket, v, known);
}

bool Series::clock_went_back(double wall, int64_t bucket) {
  // The clock went back: a little (NTP) drops the sample until time catches
  // up; more than the rings hold starts afresh.
  const bool have_fine = !std::isnan(fine_last_t_);
  if (!(have_fine && wall < fine_last_t_ - step_ / 2) && !(acc_bucket_ != kNone && bucket < acc_bucket_)) return false;
  const double newest = have_fine ? fine_last_t_ : static_cast<double>(acc_bucket_) * kCoarseStep;
  if (newest - wall <= kMaxSpan) return true;
  *this = Series(step_);
  return false;
}

void Series::record_fine(double wall, float v, bool known) {
  // The hour: one slot per step after the newest, so that jitter in when a
  // probe runs never makes a gap; a longer silence fills the slots between
  // with gaps.
  if (std::isnan(fine_last_t_)) {
    fine_head_ = 0;
    fine_[0] = v;
    fine_last_t_ = wall;
    return;
  }
  const long long n = round_to_int(std::min((wall - fine_last_t_) / step_, double(kFineSlots)));
  if (n <= 0) {
    if (known) fine_[fine_head_] = v;  // a second sample in the same slot: the newest wins
    return;
  }
  for (long long j = 1; j < n; ++j) fine_[(fine_head_ + j) % kFineSlots] = kNaN;
  fine_head_ = static_cast<uint32_t>((fine_head_ + n) % kFineSlots);
  fine_[fine_head_] = v;
  // The slot's time stays on the grid, moved a tenth of the way toward the
  // sample: a probe late by half a step, then early, still lands in
  // consecutive slots, and a slow drift is followed.
  const double slot_t = fine_last_t_ + static_cast<double>(n) * step_;
  fine_last_t_ = n >= static_cast<long long>(kFineSlots) ? wall : slot_t + (wall - slot_t) / 10;
}

void Series::record_coarse(double wall, int64_t bucket, float v, bool known) {
  // 48 hours: the 5-minute bucket being filled, committed once time leaves it.
  if (acc_bucket_ != bucket) {
    if (acc_bucket_ != kNone) commit_bucket();
    acc_bucket_ = bucket;
    acc_n_ = 0;
    acc_sum_ = 0;
  }
  if (!known) return;
  acc_min_ = acc_n_ ? std::min(acc_min_, v) : v;
  acc_max_ = acc_n_ ? std::max(acc_max_, v) : v;
  acc_sum_ += v;
  ++acc_n_;
  last_known_ = wall;
}

template <class F>
void Series::fine_range(double from, double to, F&& f) const {
  if (std::isnan(fine_last_t_)) return;
  for (size_t k = 0; k < kFineSlots; ++k) {
    const double t = fine_last_t_ - static_cast<double>(k) * step_;
    if (t <= from) break;
    if (t > to) continue;
    const float v = fine_[(fine_head_ + kFineSlots - k) % kFineSlots];
    if (!std::isnan(v)) f(t, v, v, v);
  }
}

template <class F>
void Series::coarse_range(int64_t first, int64_t last, F&& f) const {
  for (int64_t b = first; b <= last; ++b) {
    if (b == acc_bucket_) {
      if (acc_n_) f(b, acc_min_, static_cast<float>(acc_sum_ / acc_n_), acc_max_);
    } else if (coarse_last_ != kNone && b <= coarse_last_ && coarse_last_ - b < static_cast<int64_t>(kCoarseSlots)) {
      const size_t i = ring_index(b, kCoarseSlots);
      if (!std::isnan(cmin_[i])) f(b, cmin_[i], bucket_avg(i), cmax_[i]);
    }
  }
}

std::vector<Cell> Series::window(double now, double span, size_t cells) const {
  span = std::clamp(span, static_cast<double>(step_), kMaxSpan);
  cells = std::min(cells, kMaxCells);
  if (cells == 0 || !std::isfinite(now)) return {};
  if (span <= kFineSlots * static_cast<double>(step_) + 1e-6) {
    // Every cell spans at least one step, so a cell is a gap only when the
    // data is.
    const double from = now - span;
    const size_t n = std::min(cells, std::max<size_t>(1, static_cast<size_t>(span / step_)));
    const double width = span / static_cast<double>(n);
    std::vector<Cell> out(n);
    fine_range(from, now + step_ / 2, [&](double t, float lo, float avg, float hi) {
      auto c = static_cast<size_t>(std::max(0.0, (t - from) / width));
      out[std::min(c, n - 1)].add(lo, avg, hi);
    });
    return out;
  }
  const int64_t last = bucket_of(now);
  const int64_t nb = std::max<int64_t>(1, round_to_int(span / kCoarseStep));
  const int64_t first = last - nb + 1;
  const size_t n = std::min(cells, static_cast<size_t>(nb));
  std::vector<Cell> out(n);
  coarse_range(first, last, [&](int64_t b, float lo, float avg, float hi) {
    out[static_cast<size_t>((b - first) * static_cast<int64_t>(n) / nb)].add(lo, avg, hi);
  });
  return out;
}

Cell Series::summary(double now, double span) const {
  Cell all;
  for (const Cell& c : window(now, span, kMaxCells))
    if (c.known()) all.add(c.min, c.avg, c.max, c.count);
  return all;
}

std::optional<double> Series::current(double now) const {
  if (std::isnan(fine_last_t_) || now - fine_last_t_ > 2.0 * step_) return std::nullopt;
  const float v = fine_[fine_head_];
  if (std::isnan(v)) return std::nullopt;
  return v;
}

std::optional<double> Series::slope(double now, double span, double min_cover, size_t min_points) const {
  if (!std::isfinite(now) || !(span > 0)) return std::nullopt;
  span = std::min(span, kMaxSpan);
  // Sums over times relative to `now`, so that 1.7e9 s of Unix time does
  // not eat the doubles' precision.
  double n = 0, st = 0, sv = 0, stt = 0, stv = 0;
  double first = 0, last = -kMaxSpan - 1;
  auto add = [&](double t, double v) {
    t -= now;
    if (n == 0) first = t;
    first = std::min(first, t);
    last = std::max(last, t);
    n += 1, st += t, sv += v, stt += t * t, stv += t * v;
  };
  if (span <= kFineSlots * static_cast<double>(step_) + 1e-6)
    fine_range(now - span, now + step_ / 2, [&](double t, float, float avg, float) { add(t, avg); });
  else
    coarse_range(bucket_of(now - span) + 1, bucket_of(now), [&](int64_t b, float, float avg, float) {
      add(static_cast<double>(b) * kCoarseStep + kCoarseStep / 2, avg);
    });
  if (n < static_cast<double>(min_points) || last - first < min_cover) return std::nullopt;
  const double d = n * stt - st * st;
  if (!(d > 0)) return std::nullopt;
  return (n * stv - st * sv) / d;
}

std::optional<double> hours_until_full(const History& history, std::string_view avail_metric, double avail_now,
                                       double wall) {
  const Series* s = history.find(avail_metric);
  if (!s) return std::nullopt;
  auto slope = s->slope(wall, kFillSpan, kFillCover, 6);
  if (!slope) return std::nullopt;
  // Not filling is a known fact, not unknown: +inf ("never full"), so that
  // `fs_full_in_hours < 24` is false and a firing alert resolves.
  if (*slope >= 0) return std::numeric_limits<double>::infinity();
  return std::max(avail_now, 0.0) / -*slope / 3600.0;
}

std::optional<double> Series::newest() const {
  if (std::isnan(last_known_)) return std::nullopt;
  return last_known_;
}

// ---- History

void History::record(std::string_view metric, double step, double wall, std::optional<double> value) {
  auto it = series_.find(metric);
  if (it == series_.end()) {
    if (series_.size() >= kMaxSeries) return;
    it = series_.emplace(std::string(metric), std::make_unique<Series>(step)).first;
  } else if (it->second->step() != static_cast<float>(std::clamp(step, 1.0, 3600.0))) {
    it->second->set_step(step);
  }
  // +inf (fs_full_in_hours: not filling) is a known "never", but no point of
  // a graph: a gap, so that min, max and sparklines stay finite.
  if (value && !std::isfinite(*value)) value = std::nullopt;
  it->second->record(wall, value);
}

const Series* History::find(std::string_view metric) const {
  auto it = series_.find(metric);
  return it == series_.end() ? nullptr : it->second.get();
}

std::vector<std::string> History::names() const {
  std::vector<std::string> out;
  for (const auto& [name, s] : series_) out.push_back(name);
  return out;
}

void History::prune(double wall) {
  std::erase_if(series_, [&](const auto& kv) {
    auto t = kv.second->newest();
    return !t || wall - *t > kMaxSpan;
  });
}

namespace {

// Little-endian, whatever the host: the file may move between machines.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void f32(float v) { u32(std::bit_cast<uint32_t>(v)); }
  void f64(double v) { u64(std::bit_cast<uint64_t>(v)); }
  void bytes(std::string_view s) { out_ += s; }
  // A whole ring at once where the host is little-endian (every Debian
  // architecture but s390x): one copy instead of a call per byte, which
  // made the once-a-minute save cost as much as all the sampling.
  template <class T, size_t N>
  void array(const std::array<T, N>& a) {
    if constexpr (std::endian::native == std::endian::little) {
      out_.append(reinterpret_cast<const char*>(a.data()), sizeof a);
    } else {
      for (T v : a) put(std::bit_cast<std::conditional_t<sizeof(T) == 4, uint32_t, uint16_t>>(v), sizeof(T));
    }
  }

 private:
  void put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t left() const { return in_.size() - pos_; }
  uint16_t u16() { return static_cast<uint16_t>(get(2)); }
  uint32_t u32() { return static_cast<uint32_t>(get(4)); }
  uint64_t u64() { return get(8); }
  float f32() { return std::bit_cast<float>(u32()); }
  double f64() { return std::bit_cast<double>(u64()); }
  template <class T, size_t N>
  void array(std::array<T, N>& a) {
    if constexpr (std::endian::native == std::endian::little) {
      std::string_view s = bytes(sizeof a);
      if (ok_) std::memcpy(a.data(), s.data(), sizeof a);
    } else {
      for (T& v : a)
        v = std::bit_cast<T>(static_cast<std::conditional_t<sizeof(T) == 4, uint32_t, uint16_t>>(get(sizeof(T))));
    }
  }
  std::string_view bytes(size_t n) {
    if (left() < n) return ok_ = false, std::string_view();
    auto s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }

 private:
  uint64_t get(int n) {
    if (left() < static_cast<size_t>(n)) return ok_ = false, 0;
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in_[pos_ + i])) << (8 * i);
    pos_ += static_cast<size_t>(n);
    return v;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

bool valid_name(std::string_view n) {
  return !n.empty() && n.size() <= 200 && std::all_of(n.begin(), n.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

bool nan_or_finite(float v) { return std::isnan(v) || std::isfinite(v); }

bool valid_bucket(int64_t b) { return b == Series::kNone || (b >= 0 && b <= bucket_of(kMaxWall)); }

}  // namespace

std::string History::serialize() const {
  std::string out(kMagic);
  out.reserve(kMagic.size() + series_.size() * (sizeof(Series) + 64) + 16);
  Writer w(out);
  w.u32(static_cast<uint32_t>(series_.size()));
  for (const auto& [name, sp] : series_) {
    const Series& s = *sp;
    w.u16(static_cast<uint16_t>(name.size()));
    w.bytes(name);
    w.f32(s.step_);
    w.f64(s.fine_last_t_);
    w.u32(s.fine_head_);
    w.array(s.fine_);
    w.u64(static_cast<uint64_t>(s.coarse_last_));
    w.array(s.cmin_);
    w.array(s.cmax_);
    w.array(s.cavg_);
    w.u64(static_cast<uint64_t>(s.acc_bucket_));
    w.u32(s.acc_n_);
    w.f64(s.acc_sum_);
    w.f32(s.acc_min_);
    w.f32(s.acc_max_);
    w.f64(s.last_known_);
  }
  w.u64(history_checksum(out));
  return out;
}

// Everything record() and window() rely on, so that a forged file can
// neither crash the agent nor draw nonsense.
std::string Series::check() const {
  if (!(step_ >= 1 && step_ <= 3600)) return "bad step";
  if (!std::isnan(fine_last_t_) && !(fine_last_t_ >= 0 && fine_last_t_ <= kMaxWall)) return "bad time";
  if (fine_head_ >= kFineSlots) return "bad ring position";
  if (!std::all_of(fine_.begin(), fine_.end(), nan_or_finite)) return "bad value";
  if (!valid_bucket(coarse_last_) || !valid_bucket(acc_bucket_)) return "bad bucket";
  if (acc_bucket_ != kNone && coarse_last_ != kNone && acc_bucket_ <= coarse_last_) return "buckets out of order";
  for (size_t b = 0; b < kCoarseSlots; ++b) {
    const float lo = cmin_[b], hi = cmax_[b];
    if (std::isnan(lo) != std::isnan(hi) || !nan_or_finite(lo) || !nan_or_finite(hi) || lo > hi)
      return "bad bucket value";
  }
  if (acc_n_ && (acc_bucket_ == kNone || !std::isfinite(acc_sum_) || !std::isfinite(acc_min_) ||
                 !std::isfinite(acc_max_) || acc_min_ > acc_max_))
    return "bad current bucket";
  if (!std::isnan(last_known_) && !(last_known_ >= 0 && last_known_ <= kMaxWall)) return "bad time";
  return "";
}

std::string History::parse(std::string_view data) {
  if (!data.starts_with(kMagic)) return "not an imwatch history file (version 1)";
  if (data.size() < kMagic.size() + 12) return "truncated";
  const std::string_view body = data.substr(0, data.size() - 8);
  Reader tail(data.substr(data.size() - 8));
  if (tail.u64() != history_checksum(body)) return "checksum mismatch (corrupt or truncated)";
  Reader r(body.substr(kMagic.size()));
  const uint32_t count = r.u32();
  if (count > kMaxSeries) return fmt::format("{} metrics, more than {}", count, kMaxSeries);
  decltype(series_) out;
  for (uint32_t i = 0; i < count; ++i) {
    const std::string name(r.bytes(r.u16()));
    if (!r.ok()) return "truncated";
    if (!valid_name(name)) return fmt::format("metric {}: bad name", i + 1);
    auto sp = std::make_unique<Series>();
    Series& s = *sp;
    s.step_ = r.f32();
    s.fine_last_t_ = r.f64();
    s.fine_head_ = r.u32();
    r.array(s.fine_);
    s.coarse_last_ = static_cast<int64_t>(r.u64());
    r.array(s.cmin_);
    r.array(s.cmax_);
    r.array(s.cavg_);
    s.acc_bucket_ = static_cast<int64_t>(r.u64());
    s.acc_n_ = r.u32();
    s.acc_sum_ = r.f64();
    s.acc_min_ = r.f32();
    s.acc_max_ = r.f32();
    s.last_known_ = r.f64();
    if (!r.ok()) return "truncated";
    const std::string what = fmt::format("metric {}", quote(name));
    if (auto bad = s.check(); !bad.empty()) return what + ": " + bad;
    if (!out.emplace(name, std::move(sp)).second) return what + ": twice";
  }
  if (r.left()) return "trailing bytes";
  series_ = std::move(out);
  return "";
}

std::string History::save(const std::string& path) const { return write_file_atomically(path, serialize()); }

std::string History::load(const std::string& path) {
  std::string data, error;
  switch (read_state_file(path, kMaxFile, data, error)) {
    case ReadResult::missing: return "";
    case ReadResult::error: return error;
    case ReadResult::ok: break;
  }
  if (auto e = parse(data); !e.empty()) return fmt::format("{}: {}", path, e);
  return "";
}

// FNV-1a over 64-bit little-endian words, then the tail bytes: a byte at a
// time, the checksum took most of a save's CPU. One memcpy per word, not the
// word assembled from 8 shifted bytes: gcc 12 at -O2 did not merge those
// loads, and the checksum was 3.6M instructions of a 429 KB save (callgrind).
uint64_t history_checksum(std::string_view s) {
  uint64_t h = 14695981039346656037ull;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, sizeof w);
    if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
    h = (h ^ w) * 1099511628211ull;
  }
  for (; i < s.size(); ++i) h = (h ^ static_cast<unsigned char>(s[i])) * 1099511628211ull;
  return h;
}

// ---- Words

std::string sparkline(std::span<const Cell> cells) {
  static const char* const kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  // An average can overflow float (two values near its maximum: the fuzz
  // target found it); such a cell is drawn at its end, never scales the rest.
  for (const Cell& c : cells)
    if (c.known() && std::isfinite(c.avg)) lo = std::min(lo, c.avg), hi = std::max(hi, c.avg);
  std::string out;
  for (size_t i = 0; i < cells.size() && i < kMaxCells; ++i) {
    const Cell& c = cells[i];
    if (!c.known() || std::isnan(c.avg)) {
      out += ' ';
      continue;
    }
    double level = 0;
    if (std::isinf(c.avg))
      level = c.avg > 0 ? 7 : 0;
    else if (hi > lo)
      level = (static_cast<double>(c.avg) - lo) / (static_cast<double>(hi) - lo) * 7;
    out += kBars[std::clamp(round_to_int(level), 0LL, 7LL)];
  }
  return out;
}

std::string compact_value(double v) {
  if (!std::isfinite(v)) return "?";
  static const char* const kSuffix[] = {"", "k", "M", "G", "T"};
  double x = v;
  size_t unit = 0;
  while (unit < 4 && std::fabs(x) >= (unit == 0 ? 1e4 : 1e3)) x /= 1e3, ++unit;
  const double ax = std::fabs(x);
  if (unit == 4 && ax >= 1000) return fmt::format("{:.0e}", v);  // past T: "3e+38", still short
  const int decimals = unit == 0 ? (ax < 10 ? 2 : ax < 100 ? 1 : 0) : (ax < 100 ? 1 : 0);
  std::string s = fmt::format("{:.{}f}", x, decimals);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s + kSuffix[unit];
}

namespace {

struct Word {
  std::string_view word;
  std::vector<std::string_view> metrics;
};

const std::vector<Word>& words() {
  static const std::vector<Word> w = {
      {"", {"load1_per_cpu", "mem_used_pct", "cpu_iowait_pct"}},
      {"load", {"load1_per_cpu", "load1", "procs_blocked"}},
      {"mem", {"mem_used_pct", "swap_used_pct", "major_faults_ps"}},
      {"cpu", {"cpu_user_pct", "cpu_system_pct", "cpu_iowait_pct", "cpu_steal_pct"}},
      {"psi", {"psi_cpu_some_avg10", "psi_memory_some_avg10", "psi_io_some_avg10"}},
      {"disk", {}},  // every fs_used_pct{...}: disk_series()
  };
  return w;
}

// The fs_used_pct series of the history, fullest (by the latest value) first,
// at most `max`: `graph disk` and the default graph's fullest disk.
std::vector<std::string> disk_series(const History& history, double wall, size_t max) {
  std::vector<std::pair<double, std::string>> found;
  for (auto& name : history.names())
    if (name.starts_with("fs_used_pct{"))
      found.emplace_back(history.find(name)->current(wall).value_or(-1), std::move(name));
  std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<std::string> out;
  for (size_t i = 0; i < found.size() && i < max; ++i) out.push_back(std::move(found[i].second));
  return out;
}

// Two lines of at most 40 columns.
const char* const kGraphUsage = "usage: graph [WHAT] [DURATION]\nWHAT: load mem cpu psi disk or a metric";

// The preformatted rows of `graph`: per metric its name, its sparkline and
// min, avg, max and now; `per_cell` gets the span of one cell.
std::string graph_block(const History& history, const std::vector<std::string>& metrics, double wall, double span,
                        double& per_cell) {
  std::string block;
  for (const auto& m : metrics) {
    const Series& s = *history.find(m);
    auto cells = s.window(wall, span, kMaxCells);
    if (per_cell == 0 && !cells.empty()) per_cell = span / static_cast<double>(cells.size());
    const Cell all = s.summary(wall, span);
    // A long name (a deep mount point) is cut, never wrapped.
    block += (m.size() > 40 ? m.substr(0, 39) + "…" : m) + "\n";
    if (!all.known()) {
      block += fmt::format("no data in the last {}\n", human_duration(span));
      continue;
    }
    auto now = s.current(wall);
    block += sparkline(cells) + "\n";
    block += fmt::format("min {} avg {} max {} now {}\n", compact_value(all.min), compact_value(all.avg),
                         compact_value(all.max), now ? compact_value(*now) : "?");
  }
  return block;
}

// The metrics a word graphs that the history holds. The default adds the
// fullest disk; `disk` shows the six fullest.
std::vector<std::string> word_metrics(const Word& word, const History& history, double wall) {
  std::vector<std::string> metrics;
  for (auto m : word.metrics)
    if (history.find(m)) metrics.emplace_back(m);
  if (word.word.empty() || word.word == "disk")
    for (auto& m : disk_series(history, wall, word.word.empty() ? 1 : 6)) metrics.push_back(std::move(m));
  return metrics;
}

}  // namespace

std::string graph_reply(const std::vector<std::string>& args, const History* history, const std::string& host,
                        double wall) {
  if (!history) return "no history is kept";
  if (args.size() > 3) return kGraphUsage;
  double span = 6 * 3600;
  const Word* word = &words()[0];
  std::vector<std::string> metrics;
  std::string what;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string lower = to_lower(args[i]);
    auto w = std::find_if(words().begin() + 1, words().end(), [&](const Word& x) { return x.word == lower; });
    if (i == 1 && w != words().end()) {
      word = &*w;
    } else if (i == 1 && history->find(args[i])) {
      metrics.push_back(args[i]);
    } else if (auto d = parse_duration(args[i]); d && *d > 0) {
      if (*d > kMaxSpan) return fmt::format("history goes back {}", human_duration(kMaxSpan));
      span = std::max(*d, 60.0);
    } else {
      return fmt::format("no metric {} in the history\n{}", quote(args[i]), kGraphUsage);
    }
  }
  if (metrics.empty()) metrics = word_metrics(*word, *history, wall);
  if (metrics.empty()) return "no history yet";

  double per_cell = 0;
  std::string block = graph_block(*history, metrics, wall, span, per_cell);
  return fmt::format("{}: last {}, {} a cell\n```\n{}```", host, human_duration(span), human_duration(per_cell), block);
}

namespace {

// The cells of the last `span` from the first known one on: before the agent
// knew anything is no trend, and one cell says nothing of how the value got
// there ("" then).
std::string short_trend(const History& history, std::string_view metric, double wall, double span) {
  const Series* s = history.find(metric);
  if (!s) return "";
  auto cells = s->window(wall, span, 8);
  auto first = std::find_if(cells.begin(), cells.end(), [](const Cell& c) { return c.known(); });
  if (cells.end() - first < 2) return "";
  return sparkline(std::span<const Cell>(&*first, static_cast<size_t>(cells.end() - first)));
}

}  // namespace

std::string alert_trend(const History& history, std::string_view metric, double wall) {
  std::string t = short_trend(history, metric, wall, 1800);
  return t.empty() ? "" : " " + t;
}

std::string status_trend(const History* history, double wall) {
  if (!history) return "";
  std::string out;
  for (auto [label, metric] : {std::pair{"load", "load1_per_cpu"}, std::pair{"mem", "mem_used_pct"}})
    if (std::string t = short_trend(*history, metric, wall, 3600); !t.empty()) out += fmt::format(" {} {}", label, t);
  return out.empty() ? "" : "trend 1h:" + out;
}

}  // namespace imwatch::agent
