#include "probes/proc_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace imwatch::probes {

std::string ProcRoot::path(std::string_view rel) const {
  std::string p = dir_;
  if (p.empty() || p.back() != '/') p += '/';
  p += rel;
  return p;
}

ProcFile::ProcFile(const ProcRoot& root, std::string rel) : path_(root.path(rel)), rel_(std::move(rel)) {}

ProcFile::~ProcFile() { close_fd(); }

void ProcFile::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

ReadStatus ProcFile::open_fd() {
  // O_NONBLOCK: a FIFO (or a device) under the proc root would block
  // open() until a writer came, wedging the loop and SIGTERM with it.
  do fd_ = ::open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  while (fd_ < 0 && errno == EINTR);
  if (fd_ < 0) {
    int err = errno;
    error_ = path_ + ": " + std::strerror(err);
    // EOPNOTSUPP: /proc/pressure/* on a kernel booted with psi=0 exists
    // but cannot be opened; that is PSI being absent, not a failure.
    bool absent = err == ENOENT || err == ENOTDIR || err == EOPNOTSUPP;
    return absent ? ReadStatus::missing : ReadStatus::error;
  }
  // procfs files are regular files; anything else is not what we parse,
  // and reading a FIFO or a device could block or never end.
  struct stat st {};
  const bool stat_ok = ::fstat(fd_, &st) == 0;
  if (!stat_ok || !S_ISREG(st.st_mode)) {
    error_ = path_ + (stat_ok ? ": not a regular file" : ": " + std::string(std::strerror(errno)));
    close_fd();
    return ReadStatus::error;
  }
  struct statfs fs {};
  keep_open_ = ::fstatfs(fd_, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
  return ReadStatus::ok;
}

std::optional<size_t> ProcFile::read_to_end() {
  // Grow to the file's size once; after that the buffer is reused as is.
  if (buf_.empty()) buf_.resize(4096);
  size_t len = 0;
  for (;;) {
    if (len == buf_.size()) {
      if (buf_.size() >= max_size) {
        error_ = path_ + ": larger than " + std::to_string(max_size) + " bytes";
        return std::nullopt;
      }
      buf_.resize(std::min(buf_.size() * 2, max_size));
    }
    ssize_t n = ::pread(fd_, buf_.data() + len, buf_.size() - len, static_cast<off_t>(len));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_ = path_ + ": " + std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0) return len;
    len += static_cast<size_t>(n);
  }
}

ReadStatus ProcFile::read() {
  error_.clear();
  if (fd_ < 0) {
    if (ReadStatus s = open_fd(); s != ReadStatus::ok) return s;
  }
  const std::optional<size_t> len = read_to_end();
  len_ = len.value_or(0);
  // A descriptor that failed is not trusted again; a non-procfs one is
  // reopened next time on purpose (see the header).
  if (!len || !keep_open_) close_fd();
  return len ? ReadStatus::ok : ReadStatus::error;
}

}  // namespace imwatch::probes
