#include "probes/meminfo.h"

#include <algorithm>

#include "probes/text.h"

namespace imwatch::probes {

namespace {

enum : size_t {
  total,
  free_,
  available,
  used,
  used_pct,
  buff_cache,
  swap_total,
  swap_free,
  swap_used,
  swap_used_pct,
  count
};

constexpr MetricInfo kMetrics[count] = {
    {"mem_total_kb", "kB", "usable RAM (MemTotal)"},
    {"mem_free_kb", "kB", "completely unused RAM (MemFree)"},
    {"mem_available_kb", "kB", "RAM available for new work without swapping (MemAvailable)"},
    {"mem_used_kb", "kB", "total - available, as free(1) shows it"},
    {"mem_used_pct", "%", "mem_used_kb as a share of mem_total_kb"},
    {"mem_buff_cache_kb", "kB", "Buffers + Cached + SReclaimable"},
    {"swap_total_kb", "kB", "swap space (SwapTotal)"},
    {"swap_free_kb", "kB", "unused swap space (SwapFree)"},
    {"swap_used_kb", "kB", "SwapTotal - SwapFree"},
    {"swap_used_pct", "%", "swap_used_kb as a share of swap_total_kb; 0 without swap"},
};

struct Key {
  std::string_view name;
  std::optional<uint64_t> MeminfoData::*field;
};

constexpr Key kKeys[] = {
    {"MemTotal", &MeminfoData::mem_total},
    {"MemFree", &MeminfoData::mem_free},
    {"MemAvailable", &MeminfoData::mem_available},
    {"Buffers", &MeminfoData::buffers},
    {"Cached", &MeminfoData::cached},
    {"SReclaimable", &MeminfoData::sreclaimable},
    {"Active(file)", &MeminfoData::active_file},
    {"Inactive(file)", &MeminfoData::inactive_file},
    {"SwapTotal", &MeminfoData::swap_total},
    {"SwapFree", &MeminfoData::swap_free},
};

}  // namespace

std::string parse_meminfo(std::string_view text, MeminfoData& out) {
  out = {};
  Lines lines(text);
  std::string_view line;
  while (lines.next(line)) {
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return "meminfo: line " + std::to_string(lines.number()) + ": expected 'Key: value kB', got " + quote(line);
    std::string_view key = line.substr(0, colon);
    auto k = std::find_if(std::begin(kKeys), std::end(kKeys), [&](const Key& c) { return c.name == key; });
    if (k == std::end(kKeys)) continue;

    Fields f(line.substr(colon + 1));
    std::string_view value, unit, extra;
    if (!f.next(value)) return "meminfo: " + std::string(key) + ": missing value";
    auto v = to_u64(value);
    if (!v) return "meminfo: " + std::string(key) + ": bad value " + quote(value);
    if (!f.next(unit)) return "meminfo: " + std::string(key) + ": missing unit 'kB'";
    if (unit != "kB") return "meminfo: " + std::string(key) + ": unexpected unit " + quote(unit);
    if (f.next(extra)) return "meminfo: " + std::string(key) + ": unexpected " + quote(extra);
    out.*(k->field) = *v;
  }
  if (!out.mem_total) return "meminfo: no MemTotal line";
  return {};
}

std::optional<double> estimate_available(const MeminfoData& m, std::optional<uint64_t> min_free_kbytes) {
  // In double: kB values fit exactly up to 2^53 (8 ZiB), and absurd input
  // from a garbled file cannot overflow into a plausible number.
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  if (m.mem_available) return d(*m.mem_available);
  if (!m.mem_free) return std::nullopt;
  // The kernel's si_mem_available() as of 3.14, floored at 0.
  if (min_free_kbytes && m.active_file && m.inactive_file) {
    double low = d(*min_free_kbytes) * 5 / 4;
    double file = d(*m.active_file) + d(*m.inactive_file);
    double slab = d(m.sreclaimable.value_or(0));
    double avail = d(*m.mem_free) - low;
    avail += file - std::min(file / 2, low);
    avail += slab - std::min(slab / 2, low);
    return std::max(avail, 0.0);
  }
  if (m.buffers && m.cached) return d(*m.mem_free) + d(*m.buffers) + d(*m.cached);
  return std::nullopt;
}

MeminfoProbe::MeminfoProbe(const ProcRoot& root)
    : meminfo_(root, "meminfo"), min_free_(root, "sys/vm/min_free_kbytes") {}

std::span<const MetricInfo> MeminfoProbe::metric_table() { return kMetrics; }

std::string MeminfoProbe::collect(double, Values& out) {
  out.assign(count, std::nullopt);
  if (meminfo_.read() != ReadStatus::ok) return meminfo_.error();
  MeminfoData m;
  if (auto err = parse_meminfo(meminfo_.data(), m); !err.empty()) return err;

  std::optional<uint64_t> min_free;
  if (!m.mem_available && min_free_.read() == ReadStatus::ok) {
    std::string_view text = min_free_.data();
    min_free = to_u64(text.substr(0, text.find_first_of(" \n")));
  }

  auto d = [](uint64_t v) { return static_cast<double>(v); };
  double mem_total = d(*m.mem_total);
  out[total] = mem_total;
  if (m.mem_free) out[free_] = d(*m.mem_free);
  if (auto avail = estimate_available(m, min_free)) {
    double a = std::min(*avail, mem_total);
    out[available] = a;
    out[used] = mem_total - a;
    if (mem_total > 0) out[used_pct] = (mem_total - a) * 100.0 / mem_total;
  }
  // SReclaimable is absent only where the kernel does not account reclaimable
  // slab at all, so it adds nothing there (procps does the same).
  if (m.buffers && m.cached) out[buff_cache] = d(*m.buffers) + d(*m.cached) + d(m.sreclaimable.value_or(0));
  if (m.swap_total && m.swap_free) {
    double st = d(*m.swap_total), sf = std::min(d(*m.swap_free), st);
    out[swap_total] = st;
    out[swap_free] = sf;
    out[swap_used] = st - sf;
    // No swap (containers, many cloud images) is normal: nothing of it used.
    out[swap_used_pct] = st > 0 ? (st - sf) * 100.0 / st : 0.0;
  }
  return {};
}

}  // namespace imwatch::probes
