// Every probe of make_probes() end to end: the input becomes a fixture proc
// tree, and each probe collects two samples over it (rates between samples,
// counters going backwards, files missing, unreadable or malformed in one
// sample and not the other).
//
// Framing: the input is a list of records. A record starts with a header line
// "@@ COMMAND" (at the start of the input or of a line); its body runs up to
// the next header line. Text before the first header is ignored. COMMAND is
//   NAME        write the body to the file NAME (a file the probes read, or
//               one of their directories: "pressure" as a file hides the PSI
//               files, as on a kernel without PSI)
//   NAME *K     the body repeated K times, up to just over ProcFile::max_size
//   NAME/       make NAME a directory: the probe's read() fails (EISDIR)
//   -NAME       remove NAME
//   next        take the first sample; later records change the tree for the
//               second sample
// Anything else is ignored. Without "next" both samples see the same tree.
// tests/fuzz/seed.sh writes the fixtures of tests/fixtures/proc in this form.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "probes/probes.h"
#include "probes/statfs.h"

namespace fs = std::filesystem;
using namespace imwatch::probes;

namespace {

// Only these paths are ever created or removed under the scratch root.
constexpr std::string_view kNames[] = {
    "loadavg",  "stat",         "vmstat",          "uptime",      "meminfo", "sys", "sys/vm", "sys/vm/min_free_kbytes",
    "pressure", "pressure/cpu", "pressure/memory", "pressure/io",
};

constexpr size_t kMaxFile = ProcFile::max_size + 4096;

struct Record {
  std::string_view command, body;
};

// Start of the first header line at or after `from`, which is a line start.
size_t find_header(std::string_view in, size_t from) {
  for (size_t p = from; p < in.size();) {
    if (in.compare(p, 3, "@@ ") == 0) return p;
    size_t nl = in.find('\n', p);
    if (nl == std::string_view::npos) break;
    p = nl + 1;
  }
  return std::string_view::npos;
}

std::vector<Record> split(std::string_view in) {
  std::vector<Record> out;
  for (size_t h = find_header(in, 0); h != std::string_view::npos;) {
    size_t eol = in.find('\n', h);
    size_t body = eol == std::string_view::npos ? in.size() : eol + 1;
    size_t next = find_header(in, body);
    std::string_view command = in.substr(h + 3, (eol == std::string_view::npos ? in.size() : eol) - h - 3);
    out.push_back({command, in.substr(body, (next == std::string_view::npos ? in.size() : next) - body)});
    h = next;
  }
  return out;
}

bool known(std::string_view name) { return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames); }

void write_file(const std::string& path, std::string_view body, size_t repeat) {
  // Fails when a parent is missing or is a file: that is part of the tree too.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  std::string buf;
  if (repeat > 1 && !body.empty()) {
    size_t n = std::min(repeat, kMaxFile / body.size() + 1);
    buf.reserve(n * body.size());
    for (size_t i = 0; i < n; ++i) buf += body;
    body = std::string_view(buf).substr(0, kMaxFile);
  } else if (repeat == 0) {
    body = {};
  }
  for (size_t done = 0; done < body.size();) {
    ssize_t w = ::write(fd, body.data() + done, body.size() - done);
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  ::close(fd);
}

void apply_record(const std::string& root, const Record& r) {
  std::string_view cmd = r.command;
  std::error_code ec;
  if (cmd.starts_with('-')) {
    if (known(cmd.substr(1))) fs::remove_all(root + "/" + std::string(cmd.substr(1)), ec);
    return;
  }
  if (cmd.ends_with('/')) {
    cmd.remove_suffix(1);
    if (!known(cmd)) return;
    std::string path = root + "/" + std::string(cmd);
    if (!fs::is_directory(path, ec)) fs::remove(path, ec);  // a file in the way
    fs::create_directories(path, ec);
    return;
  }
  size_t repeat = 1;
  if (size_t star = cmd.find(" *"); star != std::string_view::npos) {
    std::string_view k = cmd.substr(star + 2);
    auto [p, e] = std::from_chars(k.data(), k.data() + k.size(), repeat);
    if (e != std::errc() || p != k.data() + k.size()) return;
    cmd = cmd.substr(0, star);
  }
  if (!known(cmd)) return;
  std::string path = root + "/" + std::string(cmd);
  if (size_t slash = cmd.rfind('/'); slash != std::string_view::npos) {
    // Make the parent directories unless a file is in the way.
    fs::create_directories(root + "/" + std::string(cmd.substr(0, slash)), ec);
  }
  // A directory where the file should go is replaced by the file.
  if (fs::is_directory(path, ec)) fs::remove_all(path, ec);
  write_file(path, r.body, repeat);
}

// IMWATCH_FUZZ_VERBOSE=1 prints every sample, to see what an input does.
void print_sample(Probe& p, double now, const Values& v, const std::string& err) {
  std::fprintf(stderr, "t=%g %s: %s\n", now, std::string(p.name()).c_str(), err.empty() ? "ok" : err.c_str());
  auto metrics = p.metrics();
  for (size_t i = 0; i < v.size() && !metrics.empty(); ++i)
    if (v[i]) std::fprintf(stderr, "  %s = %.17g\n", std::string(metrics[i % metrics.size()].name).c_str(), *v[i]);
}

// The mounts a fuzzed mountinfo names are not asked of the kernel (they
// may be anything on the fuzzing machine): figures made up from the path,
// some failing, some with no blocks or inodes.
class MadeUpStatfs final : public Statfs {
 public:
  std::vector<StatfsResult> stat_all(const std::vector<std::string>& paths) override {
    std::vector<StatfsResult> out;
    for (const auto& p : paths) {
      const uint64_t n = p.size();
      if (n % 5 == 0)
        out.push_back({StatfsResult::failed, {}, "statfs failed"});
      else
        out.push_back({StatfsResult::ok, {4096, n * 1000 % 7, n % 3, n % 4, n % 11, n % 13}, ""});
    }
    return out;
  }
};

void check_sample(Probe& p, const Values& v, const std::string& err, std::string_view input) {
  imwatch::fuzz::check_error(err);
  auto metrics = p.metrics();
  const bool labelled = !metrics.empty() && metrics[0].labelled;
  IMWATCH_FUZZ_CHECK(v.size() == metrics.size() * (labelled ? p.instances().size() : 1), p.name());
  for (size_t i = 0; i < v.size(); ++i) {
    if (!v[i]) continue;
    // Counts, sizes, rates and shares: never negative, never absurd (NaN,
    // inf). Shares computed by the probes are at most 100 % (PSI's own
    // averages are taken as the kernel gives them).
    double x = *v[i];
    const auto name = metrics[i % metrics.size()].name;
    bool ok = std::isfinite(x) && x >= 0 && (!name.ends_with("_pct") || x <= 100 * (1 + 1e-12));
    if (!ok) {
      std::string what = std::string(p.name()) + ": " + std::string(metrics[i % metrics.size()].name) + " = " +
                         std::to_string(x) +
                         ", input: " + std::string(input);
      IMWATCH_FUZZ_CHECK(ok, what);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static imwatch::fuzz::ScratchDir scratch;
  const std::string root = scratch.path() + "/proc";
  std::error_code ec;
  fs::remove_all(root, ec);
  fs::create_directory(root, ec);

  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<Record> records = split(in);
  auto second = std::find_if(records.begin(), records.end(), [](const Record& r) { return r.command == "next"; });

  for (auto it = records.begin(); it != second; ++it) apply_record(root, *it);
  ProcRoot proc(root);
  auto probes = make_probes(proc, {}, std::make_unique<MadeUpStatfs>());
  Values v;
  static const bool verbose = std::getenv("IMWATCH_FUZZ_VERBOSE") != nullptr;
  for (double now : {1.0, 2.0}) {
    if (now == 2.0 && second != records.end())
      for (auto it = second + 1; it != records.end(); ++it) apply_record(root, *it);
    for (auto& p : probes) {
      std::string err = p->collect(now, v);
      if (verbose) print_sample(*p, now, v, err);
      check_sample(*p, v, err, in);
    }
  }
  return 0;
}
