// /proc/self/mountinfo: the mounts this process sees, one line each.
// Kernel documentation: Documentation/filesystems/proc.rst, "3.5
// /proc/<pid>/mountinfo - Information about mounts" (docs/procfs.md says it
// in our words). Parsing only: the filesystem probe reads the file through
// a ProcFile and asks the kernel for the figures (probes/filesystem.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace imwatch::probes {

struct Mount {
  uint32_t major = 0, minor = 0;  // st_dev of the filesystem: equal for bind mounts
  std::string root;               // the directory of the filesystem mounted here ("/" for all of it)
  std::string mount_point;        // unescaped: a real path, for statfs
  std::string mount_options;      // per mount: "rw,nosuid,relatime"
  std::string fstype;             // "ext4", "fuse.sshfs"
  std::string source;             // "/dev/sda1", "tmpfs"
  std::string super_options;      // of the superblock: "rw,errors=remount-ro"
};

// More mounts than this are not read (the rest reported as an error): a
// container host has a few thousand; the file itself is bounded at 1 MiB
// by ProcFile.
inline constexpr size_t kMaxMounts = 10000;

// Every line of `text` into `out`, in file order. A line that does not parse
// is skipped and named in the returned error (the others are still used:
// partial data and an error, as every probe). "" when all is well.
std::string parse_mountinfo(std::string_view text, std::vector<Mount>& out);

// "\040" -> " ": the kernel escapes space, tab, newline and backslash in
// paths as three octal digits. Anything else after a backslash is kept.
std::string unescape_mount_path(std::string_view escaped);

// The mount point as metric names show it (`fs_used_pct{/var}`): control
// characters and backslashes as three octal digits again ("\012"), so a
// name never spans lines or tabs in a log, a state file or a chat reply.
std::string mount_label(std::string_view path);

// Whether `option` ("ro") is one of the comma-separated `options`.
bool has_option(std::string_view options, std::string_view option);

}  // namespace imwatch::probes
