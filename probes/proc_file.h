// Reading files under a proc root, apart from parsing them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imwatch::probes {

// Where the probes read from: "/proc" on a live system, a fixture tree in
// tests and the fuzzer (prometheus/procfs' NewFS(mountPoint)).
class ProcRoot {
 public:
  explicit ProcRoot(std::string dir = "/proc") : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string path(std::string_view rel) const;

 private:
  std::string dir_;
};

enum class ReadStatus { ok, missing, error };

// One file under the proc root, read whole on every call.
//
// procfs reports sizes of 0 or 4096 whatever the length, so we read until
// EOF into a reused buffer (no allocation per poll once it has grown) and
// bound the size. On procfs the descriptor stays open and is re-read with
// pread() from offset 0, which makes the kernel regenerate the content: that
// saves an open()/close() pair per file per poll. Anywhere else (fixture
// trees that tests replace atomically between samples) the file is reopened
// on every read so that a renamed-over file is seen.
class ProcFile {
 public:
  ProcFile(const ProcRoot& root, std::string rel);
  ~ProcFile();
  ProcFile(const ProcFile&) = delete;
  ProcFile& operator=(const ProcFile&) = delete;

  // Reads the file into data(). On failure error() names the file and the
  // reason; `missing` means the file does not exist (ENOENT/ENOTDIR).
  ReadStatus read();
  std::string_view data() const { return {buf_.data(), len_}; }
  const std::string& error() const { return error_; }
  const std::string& rel() const { return rel_; }

  // procfs files that matter here are a few KiB; /proc/stat's intr line on
  // a many-CPU host reaches a few hundred. Anything bigger is not procfs.
  static constexpr size_t max_size = 1 << 20;

 private:
  void close_fd();
  // Opens path_ into fd_ and checks it is a regular file: ok, or missing /
  // error with error_ set (and fd_ closed).
  ReadStatus open_fd();
  // Reads fd_ from offset 0 to EOF into buf_, growing it up to max_size:
  // the length, or nullopt with error_ set.
  std::optional<size_t> read_to_end();

  std::string path_;
  std::string rel_;
  std::vector<char> buf_;  // grows, never shrinks; only len_ bytes are valid
  size_t len_ = 0;
  std::string error_;
  int fd_ = -1;
  bool keep_open_ = false;
};

}  // namespace imwatch::probes
