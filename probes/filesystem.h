// filesystem probe: every mounted filesystem that holds data on this
// machine, from /proc/self/mountinfo (probes/mountinfo.h) and statfs(2)
// (probes/statfs.h), with df(1)'s arithmetic. Kernel documentation:
// Documentation/filesystems/proc.rst ("/proc/<pid>/mountinfo"); statfs(2).
//
// Its metrics are per mount: `fs_used_pct{/var}`. The probe's instances()
// are the mount points watched at the latest sample (probes/probe.h).
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "probes/mountinfo.h"
#include "probes/probe.h"
#include "probes/statfs.h"

namespace imwatch::probes {

struct FilesystemOptions {
  // Types watched although they hold no local data by default ("nfs4",
  // "tmpfs", "fuse.sshfs").
  std::vector<std::string> include_types;
  // Mount points not watched: exact paths or fnmatch(3) globs ("/snap/*").
  std::vector<std::string> exclude_mounts;
};

// The probe's metric indices, in metric_table() order.
enum FsMetric : size_t {
  fs_used_pct,
  fs_avail_bytes,
  fs_size_bytes,
  fs_inodes_used_pct,
  fs_readonly,
  fs_remounted_ro,
  fs_full_in_hours,
  fs_metric_count
};

// Whether a filesystem type holds data here by default: local disk
// filesystems do; pseudo (proc, tmpfs, overlay...), read-only images
// (squashfs, iso9660), network (nfs, cifs...) and FUSE daemons do not.
bool data_filesystem(const Mount& m);

// The mounts to watch, in file order: selected by type and exclude list,
// one per device (a bind mount shows the same filesystem again: the one
// mounting the filesystem's root wins, then the shortest mount point), and
// of mounts stacked on one point only the last (the visible one).
std::vector<Mount> select_mounts(const std::vector<Mount>& all, const FilesystemOptions& opt);

// df's Use%: used / (used + available), rounded up; unknown for a
// filesystem with no blocks. And df -i's IUse%: unknown with no inodes
// (btrfs reports 0).
std::optional<double> used_pct(const FsStats& s);
std::optional<double> inodes_used_pct(const FsStats& s);

class FilesystemProbe final : public Probe {
 public:
  // `statfs` null: the real, threaded one.
  FilesystemProbe(const ProcRoot& root, FilesystemOptions opt, std::unique_ptr<Statfs> statfs = nullptr);
  static constexpr std::string_view probe_name = "filesystem";
  static std::span<const MetricInfo> metric_table();

  std::string_view name() const override { return probe_name; }
  std::span<const MetricInfo> metrics() const override { return metric_table(); }
  std::span<const std::string> instances() const override { return instances_; }
  std::string collect(double now, Values& out) override;

 private:
  ProcFile mountinfo_;
  FilesystemOptions opt_;
  std::unique_ptr<Statfs> statfs_;
  static std::optional<double> remounted_ro(const Mount& m, bool super_ro,
                                            const std::set<std::pair<uint32_t, uint32_t>>& was_rw,
                                            std::set<std::pair<uint32_t, uint32_t>>& now_rw);

  std::vector<Mount> all_;  // reused between samples
  std::vector<std::string> instances_;
  std::set<std::pair<uint32_t, uint32_t>> seen_rw_;  // devices read-write at the last sample
};

}  // namespace imwatch::probes
