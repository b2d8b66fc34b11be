#include "probes/filesystem.h"

#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace imwatch::probes {

namespace {

constexpr MetricInfo kMetrics[fs_metric_count] = {
    {"fs_used_pct", "%", "space used, as df's Use%: used / (used + available), rounded up", true},
    {"fs_avail_bytes", "B", "space available to unprivileged users (f_bavail)", true},
    {"fs_size_bytes", "B", "size of the filesystem (f_blocks)", true},
    {"fs_inodes_used_pct", "%", "inodes used, as df -i's IUse%; unknown where the filesystem has none", true},
    {"fs_readonly", "", "1 when the filesystem (its superblock) is read-only, else 0", true},
    {"fs_remounted_ro", "",
     "1 when it turned read-only while watched, or is read-only under a read-write mount (errors=remount-ro)", true},
    {"fs_full_in_hours", "h",
     "hours until full at the rate of the last hours (least squares); never (+inf) when not filling, unknown "
     "with too little history",
     true},
};

// What holds no local data: pseudo filesystems, read-only images, network
// filesystems. FUSE daemons ("fuse.*") are also left out by default: their
// statfs is whatever the daemon answers, if it answers (fuseblk, ntfs-3g on
// a local disk, is watched).
constexpr std::string_view kNotData[] = {
    "autofs",     "binfmt_misc", "bpf",      "cgroup",    "cgroup2", "configfs", "debugfs", "devpts",   "devtmpfs",
    "efivarfs",   "fusectl",     "hugetlbfs", "mqueue",   "nsfs",    "overlay",  "proc",    "pstore",   "ramfs",
    "rpc_pipefs", "securityfs",  "selinuxfs", "sysfs",    "tmpfs",   "tracefs",  "aufs",    "rootfs",   "devfs",
    "squashfs",   "iso9660",     "udf",       "erofs",    "cramfs",  "nfs",      "nfs4",    "cifs",     "smb3",
    "smbfs",      "ncpfs",       "9p",        "afs",      "ceph",    "glusterfs", "lustre", "gpfs",     "davfs",
    "virtiofs",   "sshfs",       "zram"};

// Local filesystems that may have no /dev/ source (zfs names a pool).
constexpr std::string_view kData[] = {"ext2", "ext3",  "ext4", "xfs",  "btrfs",   "zfs",   "f2fs",     "vfat",
                                      "exfat", "ntfs", "ntfs3", "fuseblk", "jfs", "reiserfs", "bcachefs", "nilfs2",
                                      "hfsplus", "msdos"};

bool listed(std::span<const std::string_view> list, std::string_view type) {
  return std::find(list.begin(), list.end(), type) != list.end();
}

bool excluded(const std::string& point, const FilesystemOptions& opt) {
  return std::any_of(opt.exclude_mounts.begin(), opt.exclude_mounts.end(),
                     [&](const std::string& p) { return p == point || ::fnmatch(p.c_str(), point.c_str(), 0) == 0; });
}

bool wanted(const Mount& m, const FilesystemOptions& opt) {
  if (excluded(m.mount_point, opt)) return false;
  const auto& inc = opt.include_types;
  return std::find(inc.begin(), inc.end(), m.fstype) != inc.end() || data_filesystem(m);
}

// Of two mounts of one device, the one to keep.
bool better(const Mount& a, const Mount& b) {
  if ((a.root == "/") != (b.root == "/")) return a.root == "/";
  return a.mount_point.size() < b.mount_point.size();
}

double ceil_pct(double used, double total) {
  // df rounds up: any fraction of a percent used shows as one more.
  const double p = std::ceil(used * 100.0 / total - 1e-9);
  return p > 0 ? p : 0.0;  // never "-0"
}

}  // namespace

bool data_filesystem(const Mount& m) {
  if (listed(kNotData, m.fstype) || m.fstype.starts_with("fuse.")) return false;
  return listed(kData, m.fstype) || m.source.starts_with("/dev/");
}

std::vector<Mount> select_mounts(const std::vector<Mount>& all, const FilesystemOptions& opt) {
  // Stacked on one point, only the last is visible.
  std::map<std::string, size_t> last_at;
  for (size_t i = 0; i < all.size(); ++i) last_at[all[i].mount_point] = i;
  std::map<std::pair<uint32_t, uint32_t>, size_t> by_dev;  // -> index into `kept`
  std::vector<Mount> kept;
  for (size_t i = 0; i < all.size(); ++i) {
    const Mount& m = all[i];
    if (last_at[m.mount_point] != i || !wanted(m, opt)) continue;
    auto [it, fresh] = by_dev.emplace(std::pair(m.major, m.minor), kept.size());
    if (fresh)
      kept.push_back(m);
    else if (better(m, kept[it->second]))
      kept[it->second] = m;
  }
  return kept;
}

std::optional<double> used_pct(const FsStats& s) {
  if (s.blocks == 0 || s.bfree > s.blocks) return std::nullopt;
  double used = static_cast<double>(s.blocks - s.bfree), avail = static_cast<double>(s.bavail);
  if (used + avail <= 0) return std::nullopt;
  return ceil_pct(used, used + avail);
}

std::optional<double> inodes_used_pct(const FsStats& s) {
  if (s.files == 0 || s.ffree > s.files) return std::nullopt;
  return ceil_pct(static_cast<double>(s.files - s.ffree), static_cast<double>(s.files));
}

FilesystemProbe::FilesystemProbe(const ProcRoot& root, FilesystemOptions opt, std::unique_ptr<Statfs> statfs)
    : mountinfo_(root, "self/mountinfo"),
      opt_(std::move(opt)),
      statfs_(statfs ? std::move(statfs) : std::make_unique<ThreadedStatfs>()) {}

std::span<const MetricInfo> FilesystemProbe::metric_table() { return kMetrics; }

std::string FilesystemProbe::collect(double, Values& out) {
  instances_.clear();
  out.clear();
  if (mountinfo_.read() != ReadStatus::ok) return mountinfo_.error();
  std::string error = parse_mountinfo(mountinfo_.data(), all_);
  std::vector<Mount> watch = select_mounts(all_, opt_);
  std::vector<std::string> paths;
  for (const auto& m : watch) paths.push_back(m.mount_point);
  auto results = statfs_->stat_all(paths);
  out.assign(watch.size() * fs_metric_count, std::nullopt);
  // Devices seen read-write, kept for the mounts still here (so bounded).
  std::set<std::pair<uint32_t, uint32_t>> was_rw, now_rw;
  was_rw.swap(seen_rw_);
  for (size_t k = 0; k < watch.size(); ++k) {
    const Mount& m = watch[k];
    std::optional<double>* v = &out[k * fs_metric_count];
    // Known from mountinfo alone, even when statfs does not answer.
    const bool super_ro = has_option(m.super_options, "ro");
    v[fs_readonly] = super_ro ? 1.0 : 0.0;
    v[fs_remounted_ro] = remounted_ro(m, super_ro, was_rw, now_rw);
    instances_.push_back(mount_label(m.mount_point));
    const StatfsResult& r = results.at(k);
    if (r.status != StatfsResult::ok) {
      // Partial failure: the other mounts are still reported.
      if (error.empty()) error = r.error;
      continue;
    }
    const FsStats& s = r.stats;
    v[fs_used_pct] = used_pct(s);
    v[fs_avail_bytes] = static_cast<double>(s.bavail) * static_cast<double>(s.frsize);
    v[fs_size_bytes] = static_cast<double>(s.blocks) * static_cast<double>(s.frsize);
    v[fs_inodes_used_pct] = inodes_used_pct(s);
  }
  seen_rw_ = std::move(now_rw);
  return error;
}

// The filesystem read-only, and not by the admin's choice at mount time:
// 1 when its superblock is read-only under a read-write mount (the kernel
// did it, errors=remount-ro; `mount -o ro` marks the mount too), or when
// the superblock turned read-only while this probe watched it. The second
// is what works under the packaged unit: ProtectSystem=strict makes every
// mount in the service's namespace read-only, so the mount flag says
// nothing there, but the superblock is the one the whole machine shares.
// Unknown when both are read-only and it was never seen read-write (a
// filesystem mounted ro on purpose, or one that turned before the agent
// started): a firing alert is kept, none is raised.
std::optional<double> FilesystemProbe::remounted_ro(const Mount& m, bool super_ro,
                                                    const std::set<std::pair<uint32_t, uint32_t>>& was_rw,
                                                    std::set<std::pair<uint32_t, uint32_t>>& now_rw) {
  const std::pair dev{m.major, m.minor};
  if (!super_ro) {
    now_rw.insert(dev);
    return 0.0;
  }
  const bool turned = was_rw.count(dev) > 0;
  if (turned) now_rw.insert(dev);  // stays "turned" while it is read-only
  if (turned || !has_option(m.mount_options, "ro")) return 1.0;
  return std::nullopt;
}

}  // namespace imwatch::probes
