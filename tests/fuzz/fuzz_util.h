// Helpers shared by the fuzz targets: invariant checks that abort (so that
// libFuzzer saves the input, like a sanitizer report would) and a scratch
// directory per process.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace imwatch::fuzz {

// Prints the failed check and (the start of) the value it was about, escaped,
// then aborts: libFuzzer reports a deadly signal and saves the input.
[[noreturn]] inline void fail(const char* what, std::string_view detail, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n  about: '", file, line, what);
  for (size_t i = 0; i < detail.size() && i < 300; ++i) {
    auto c = static_cast<unsigned char>(detail[i]);
    if (c == '\n')
      std::fputs("\\n", stderr);
    else if (c < 0x20 || c >= 0x7f)
      std::fprintf(stderr, "\\x%02x", c);
    else
      std::fputc(c, stderr);
  }
  std::fputs(detail.size() > 300 ? "'...\n" : "'\n", stderr);
  std::abort();
}

#define IMWATCH_FUZZ_CHECK(cond, detail) ((cond) ? (void)0 : ::imwatch::fuzz::fail(#cond, (detail), __FILE__, __LINE__))

// Errors go to logs and chat replies: the parsers quote offending tokens with
// control bytes escaped "so that garbage in /proc cannot garble our logs".
// So an error is printable ASCII whatever the input.
inline bool printable(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

inline void check_error(std::string_view err) { IMWATCH_FUZZ_CHECK(printable(err), err); }

// A sample value is a count, a size, a rate or a share: finite and >= 0.
inline void check_value(double v, std::string_view what) { IMWATCH_FUZZ_CHECK(std::isfinite(v) && v >= 0, what); }

// A directory of our own for the life of the process, removed at exit: under
// $IMWATCH_FUZZ_TMPDIR (run.sh points it at its own scratch space, which it
// removes even after a crash), else on tmpfs when there is one (the probes
// and config targets write files on every run), else in $TMPDIR.
class ScratchDir {
 public:
  ScratchDir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const char* env = std::getenv("IMWATCH_FUZZ_TMPDIR");  // run.sh's scratch space
    std::string base = env && *env ? env
                       : fs::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : fs::temp_directory_path().string();
    std::string tmpl = base + "/imwatch-fuzz-XXXXXX";
    if (!::mkdtemp(tmpl.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace imwatch::fuzz
