#include "agent/client_process.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>

namespace imwatch::agent {

std::optional<uint64_t> parse_start_time(std::string_view stat) {
  size_t paren = stat.rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  std::string_view rest = stat.substr(paren + 1);
  // After ')': field 3 (state) is the first; starttime is field 22.
  int field = 2;
  size_t at = 0;
  while (at < rest.size()) {
    while (at < rest.size() && rest[at] == ' ') ++at;
    size_t end = rest.find_first_of(" \n", at);
    if (end == std::string_view::npos) end = rest.size();
    if (at == end) break;
    if (++field == 22) {
      uint64_t v = 0;
      auto [p, ec] = std::from_chars(rest.data() + at, rest.data() + end, v);
      if (ec != std::errc() || p != rest.data() + end) return std::nullopt;
      return v;
    }
    at = end;
  }
  return std::nullopt;
}

std::optional<uint64_t> process_start(int pid, const std::string& proc_root) {
  if (pid <= 0) return std::nullopt;
  const std::string path = proc_root + "/" + std::to_string(pid) + "/stat";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf);  // one line, well under 1 KiB; the kernel writes it at once
  ::close(fd);
  if (n <= 0) return std::nullopt;
  return parse_start_time(std::string_view(buf, static_cast<size_t>(n)));
}

bool process_alive(int pid, uint64_t start, const std::string& proc_root) {
  auto s = process_start(pid, proc_root);
  return s && *s == start;
}

}  // namespace imwatch::agent
