#include "agent/state_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace imwatch::agent {

namespace {

// Closes a descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error (close can report a failed write-back).
  int close() {
    int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

std::string err(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// O_NOFOLLOW on the last component: a symlinked state dir could be
// re-pointed by whoever owns the link.
int open_dir(const std::string& dir, std::string& error) {
  int fd;
  do fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd >= 0) return fd;
  const int e = errno;
  struct stat st {};
  // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR: tell which.
  if (e == ELOOP || (e == ENOTDIR && ::lstat(dir.c_str(), &st) == 0 && S_ISLNK(st.st_mode)))
    error = "state dir " + dir + " is a symlink: set state-dir to the directory it points to";
  else if (e == ENOTDIR)
    error = "state dir " + dir + " is not a directory";
  else
    error = "state dir " + dir + ": " + std::strerror(e);
  return -1;
}

// Whoever else can write into the dir can replace our files, or their temp
// files, with symlinks to anything we are allowed to write.
std::string check_dir(int fd, const std::string& dir) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return err("state dir " + dir);
  const uid_t me = ::geteuid();
  if (st.st_uid != me)
    return "state dir " + dir + " is owned by uid " + std::to_string(st.st_uid) + ", not by this agent's uid " +
           std::to_string(me) + ": run 'chown " + std::to_string(me) + " " + dir + "' or choose another state-dir";
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return "state dir " + dir + " has mode " + octal(st.st_mode) +
           ": group or others can write into it (and plant symlinks); run 'chmod 0700 " + dir + "'";
  return {};
}

std::string split(const std::string& path, std::string& name) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    name = path;
    return ".";
  }
  name = path.substr(slash + 1);
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string write_all(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return std::strerror(errno);
    off += static_cast<size_t>(w);
  }
  return {};
}

}  // namespace

std::string prepare_state_dir(const std::string& dir) {
  bool created = ::mkdir(dir.c_str(), 0700) == 0;
  if (!created && errno != EEXIST) return err("state dir " + dir);
  std::string error;
  Fd fd(open_dir(dir, error));
  if (fd.get() < 0) return error;
  // mkdir's mode passed through the umask; what we created we may set.
  if (created && ::fchmod(fd.get(), 0700) != 0) return err("state dir " + dir + ": chmod");
  return check_dir(fd.get(), dir);
}

std::string write_file_atomically(const std::string& path, const std::string& data) {
  std::string name;
  const std::string dir = split(path, name);
  if (name.empty()) return path + ": not a file name";
  std::string error;
  Fd dfd(open_dir(dir, error));
  if (dfd.get() < 0) return error;
  if (error = check_dir(dfd.get(), dir); !error.empty()) return error;

  const std::string tmp = name + ".tmp", tmp_path = path + ".tmp";
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int raw = ::openat(dfd.get(), tmp.c_str(), flags, 0600);
  if (raw < 0 && errno == EEXIST) {
    // Left by a crash, or planted: removed, never followed. unlinkat
    // removes a symlink itself, not what it points to.
    if (::unlinkat(dfd.get(), tmp.c_str(), 0) != 0) return err(tmp_path + ": removing the old temp file");
    raw = ::openat(dfd.get(), tmp.c_str(), flags, 0600);
  }
  if (raw < 0) return err(tmp_path);
  Fd fd(raw);
  auto fail = [&](const std::string& e) {
    ::unlinkat(dfd.get(), tmp.c_str(), 0);
    return e;
  };
  if (auto e = write_all(fd.get(), data); !e.empty()) return fail(tmp_path + ": " + e);
  if (::fsync(fd.get()) != 0) return fail(err(tmp_path + ": fsync"));
  if (fd.close() != 0) return fail(err(tmp_path + ": close"));
  if (::renameat(dfd.get(), tmp.c_str(), dfd.get(), name.c_str()) != 0) return fail(err(path + ": rename"));
  // The rename itself is durable only once the directory is synced.
  ::fsync(dfd.get());
  return {};
}

ReadResult read_state_file(const std::string& path, size_t max_size, std::string& data, std::string& error) {
  data.clear();
  error.clear();
  // O_NONBLOCK: a FIFO planted under the name must not block the open.
  int raw;
  do raw = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  while (raw < 0 && errno == EINTR);
  if (raw < 0) {
    if (errno == ENOENT) return ReadResult::missing;
    error = errno == ELOOP ? path + ": is a symlink, not read" : err(path);
    return ReadResult::error;
  }
  Fd fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    error = err(path);
    return ReadResult::error;
  }
  if (!S_ISREG(st.st_mode)) {
    error = path + ": not a regular file, not read";
    return ReadResult::error;
  }
  if (static_cast<uint64_t>(st.st_size) > max_size) {
    error = path + ": " + std::to_string(st.st_size) + " bytes, more than the " + std::to_string(max_size) +
            " allowed; not read";
    return ReadResult::error;
  }
  data.resize(static_cast<size_t>(st.st_size));
  size_t len = 0;
  for (;;) {
    // The file may have grown since fstat: read until EOF, still bounded.
    if (len == data.size()) {
      if (len >= max_size + 1) break;
      data.resize(std::min(max_size + 1, len + 4096));
    }
    ssize_t n = ::read(fd.get(), data.data() + len, data.size() - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = err(path);
      data.clear();
      return ReadResult::error;
    }
    if (n == 0) break;
    len += static_cast<size_t>(n);
  }
  if (len > max_size) {
    error = path + ": more than " + std::to_string(max_size) + " bytes; not read";
    data.clear();
    return ReadResult::error;
  }
  data.resize(len);
  return ReadResult::ok;
}

}  // namespace imwatch::agent
