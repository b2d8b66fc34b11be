// The filesystem probe: the mountinfo parser on literal strings, which
// mounts are watched on the fixture trees (with a fake statfs), df's
// arithmetic, the threaded statfs on this machine, and the figures against
// df(1) and df -i on this machine.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>

#include "agent/report.h"
#include "agent/snapshot.h"
#include "fakes/fake_statfs.h"
#include "probes/filesystem.h"
#include "probes/mountinfo.h"

using namespace imwatch::probes;
using imwatch::test::FakeStatfs;
using imwatch::test::fs_stats;

namespace {

const std::string kFs = IMWATCH_FIXTURES "/fs/";

TEST(ParseMountinfo, FieldsOptionalFieldsAndEscapes) {
  std::vector<Mount> m;
  EXPECT_EQ(parse_mountinfo("36 35 98:0 /mnt1 /mnt/my\\040disk rw,noatime master:1 shared:2 - ext3 /dev/root "
                            "rw,errors=continue\n",
                            m),
            "");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].major, 98u);
  EXPECT_EQ(m[0].minor, 0u);
  EXPECT_EQ(m[0].root, "/mnt1");
  EXPECT_EQ(m[0].mount_point, "/mnt/my disk");
  EXPECT_EQ(m[0].mount_options, "rw,noatime");
  EXPECT_EQ(m[0].fstype, "ext3");
  EXPECT_EQ(m[0].source, "/dev/root");
  EXPECT_EQ(m[0].super_options, "rw,errors=continue");
  // No optional fields at all, and no super options (old kernels).
  EXPECT_EQ(parse_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda1\n", m), "");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].super_options, "");
}

TEST(ParseMountinfo, BadLinesAreNamedAndSkipped) {
  std::vector<Mount> m;
  auto err = parse_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda1 rw\ngarbage here\n2 1 x:1 / /a rw - ext4 /dev/b rw\n"
                             "3 1 8:3 / /b rw shared:1\n4 1 8:4 / /c rw - ext4 /dev/c rw\n",
                             m);
  EXPECT_EQ(m.size(), 2u);  // the good ones are kept
  EXPECT_NE(err.find("mountinfo: line 2:"), std::string::npos) << err;
  EXPECT_NE(err.find("'garbage here'"), std::string::npos) << err;
  EXPECT_NE(err.find("and 2 more bad lines"), std::string::npos) << err;
  EXPECT_EQ(parse_mountinfo("", m), "");
  EXPECT_TRUE(m.empty());
}

TEST(ParseMountinfo, Unescape) {
  EXPECT_EQ(unescape_mount_path("/a\\040b\\011c\\012d\\134e"), "/a b\tc\nd\\e");
  EXPECT_EQ(unescape_mount_path("/a\\04"), "/a\\04");  // cut short: kept
  EXPECT_EQ(unescape_mount_path("/a\\9xy"), "/a\\9xy");
  EXPECT_EQ(mount_label("/a b\tc\nd\\e"), "/a b\\011c\\012d\\134e");
  EXPECT_TRUE(has_option("rw,ro,x", "ro"));
  EXPECT_FALSE(has_option("rw,errors=remount-ro", "ro"));
  EXPECT_FALSE(has_option("", "ro"));
}

TEST(DfArithmetic, UseAndInodesRoundUpAsDf) {
  // used 1, avail 2: 33.3% -> 34, as df.
  EXPECT_EQ(used_pct({4096, 10, 9, 2, 0, 0}), 34);
  EXPECT_EQ(used_pct({4096, 100, 50, 50, 0, 0}), 50);
  EXPECT_EQ(used_pct({4096, 0, 0, 0, 0, 0}), std::nullopt);
  EXPECT_EQ(used_pct({4096, 100, 100, 100, 0, 0}), 0);
  EXPECT_EQ(inodes_used_pct({4096, 1, 1, 1, 0, 0}), std::nullopt);  // btrfs: no inodes
  EXPECT_EQ(inodes_used_pct({4096, 1, 1, 1, 1000, 999}), 1);        // 0.1% -> 1
  EXPECT_EQ(inodes_used_pct({4096, 1, 1, 1, 1000, 0}), 100);
}

struct Probed {
  std::unique_ptr<FilesystemProbe> probe;
  FakeStatfs* fake = nullptr;
  Values v;
  std::string error;
  std::optional<double> get(std::string_view mount, FsMetric m) const {
    auto inst = probe->instances();
    for (size_t k = 0; k < inst.size(); ++k)
      if (inst[k] == mount) return v.at(k * fs_metric_count + m);
    ADD_FAILURE() << "no instance " << mount;
    return std::nullopt;
  }
  std::vector<std::string> mounts() const { return {probe->instances().begin(), probe->instances().end()}; }
};

Probed probe_tree(const std::string& tree, FilesystemOptions opt = {}, std::map<std::string, FsStats> table = {}) {
  Probed p;
  auto fake = std::make_unique<FakeStatfs>();
  p.fake = fake.get();
  fake->table = std::move(table);
  p.probe = std::make_unique<FilesystemProbe>(ProcRoot(kFs + tree), std::move(opt), std::move(fake));
  p.error = p.probe->collect(1, p.v);
  return p;
}

TEST(FilesystemProbe, BindMountsOnceEscapesReadOnlyAndTypes) {
  auto p = probe_tree("bind", {}, {{"/", fs_stats(100, 50)}, {"/var", fs_stats(10, 93)}});
  // sda1 and its bind copy once, at "/"; sda2 at /var (its root), not at
  // /var/lib/docker; nfs, sshfs and proc skipped; zfs without /dev/ kept.
  EXPECT_EQ(p.mounts(), (std::vector<std::string>{"/", "/var", "/mnt/my disk", "/media/usb", "/tank",
                                                  "/var/tmp\\134odd"}));
  EXPECT_EQ(p.fake->asked, (std::vector<std::string>{"/", "/var", "/mnt/my disk", "/media/usb", "/tank",
                                                     "/var/tmp\\odd"}));  // the real path
  EXPECT_EQ(p.get("/var", fs_used_pct), 98);  // 93% of all, 5% reserved: 93 / 95 -> 98
  EXPECT_EQ(p.get("/", fs_inodes_used_pct), 10);
  EXPECT_NEAR(*p.get("/var", fs_size_bytes), 10.0 * (1 << 30), 4096);
  // ro superblock under a rw mount: the kernel did it; both ro and never
  // seen rw: mounted so on purpose, or turned before we looked: unknown.
  EXPECT_EQ(p.get("/mnt/my disk", fs_readonly), 1);
  EXPECT_EQ(p.get("/mnt/my disk", fs_remounted_ro), 1);
  EXPECT_EQ(p.get("/media/usb", fs_readonly), 1);
  EXPECT_EQ(p.get("/media/usb", fs_remounted_ro), std::nullopt);
  EXPECT_EQ(p.get("/", fs_readonly), 0);
  EXPECT_EQ(p.get("/", fs_remounted_ro), 0);
  // Mounts statfs could not answer are unknown (not 0) and named.
  EXPECT_EQ(p.get("/tank", fs_used_pct), std::nullopt);
  EXPECT_EQ(p.get("/tank", fs_avail_bytes), std::nullopt);
  EXPECT_NE(p.error.find("/mnt/my disk"), std::string::npos) << p.error;
  EXPECT_EQ(p.get("/", fs_full_in_hours), std::nullopt);  // the agent fits it on its history
}

// fs_full_in_hours +inf (not filling) at the edges: JSON null (JSON has no
// infinity), no note in the disk reply; a finite value as before.
TEST(FilesystemProbe, NotFillingIsNullInJsonAndNoNote) {
  auto p = probe_tree("bind", {}, {{"/", fs_stats(100, 50)}, {"/var", fs_stats(10, 93)}});
  p.v[0 * fs_metric_count + fs_full_in_hours] = std::numeric_limits<double>::infinity();  // "/"
  p.v[1 * fs_metric_count + fs_full_in_hours] = 9.25;                                     // "/var"
  ASSERT_EQ(p.mounts()[0], "/");
  ASSERT_EQ(p.mounts()[1], "/var");
  imwatch::agent::Snapshot snap;
  auto inst = p.probe->instances();
  snap.probes.push_back({p.probe->name(), p.probe->metrics(), p.v, "", true, {inst.begin(), inst.end()}});
  const std::string json = imwatch::agent::format_json(snap, "web1");
  EXPECT_NE(json.find("\"fs_full_in_hours{/}\":null,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"fs_full_in_hours{/var}\":9.25,"), std::string::npos) << json;
  EXPECT_EQ(json.find("inf"), std::string::npos) << json;
  EXPECT_EQ(json.find("fs_full_in_hours{/tank}"), std::string::npos) << json;  // unknown: left out
  const auto notes = imwatch::agent::chat_disk_notes(snap);
  std::string all;
  for (const auto& n : notes) all += n + "\n";
  EXPECT_NE(all.find("/var full in 10h at this rate"), std::string::npos) << all;
  EXPECT_EQ(all.find("/ full"), std::string::npos) << all;
  EXPECT_EQ(all.find("inf"), std::string::npos) << all;
}

// Under the packaged unit (ProtectSystem=strict) every mount the agent sees
// is read-only, whatever the filesystem: the superblock decides. /data's
// superblock turns read-only while watched (the kernel after an error, or an
// admin's remount): fs_remounted_ro 1, and it stays 1 while it is so; rw
// again: 0. A fresh probe (an agent restart) cannot tell: unknown, which
// keeps a firing alert and raises none.
TEST(FilesystemProbe, UnderAReadOnlySandboxTheSuperblockTurningCounts) {
  const std::string dir = ::testing::TempDir() + "fs-sandbox";
  std::filesystem::create_directories(dir + "/self");
  auto write = [&](const char* data_super) {
    std::ofstream(dir + "/self/mountinfo")
        << "26 1 8:1 / / ro,relatime master:1 - ext4 /dev/sda1 rw,errors=remount-ro\n"
        << "28 26 8:2 / /data ro,relatime master:2 - ext4 /dev/sda2 " << data_super << ",errors=remount-ro\n";
  };
  auto probe = [&] {
    auto fake = std::make_unique<FakeStatfs>();
    fake->table = {{"/", fs_stats(100, 50)}, {"/data", fs_stats(10, 5)}};
    return std::make_unique<FilesystemProbe>(ProcRoot(dir), FilesystemOptions{}, std::move(fake));
  };
  auto sample = [](FilesystemProbe& p, std::string_view mount, FsMetric m) -> std::optional<double> {
    Values v;
    EXPECT_EQ(p.collect(1, v), "");
    auto inst = p.instances();
    for (size_t k = 0; k < inst.size(); ++k)
      if (inst[k] == mount) return v.at(k * fs_metric_count + m);
    ADD_FAILURE() << "no instance " << mount;
    return std::nullopt;
  };
  write("rw");
  auto p = probe();
  EXPECT_EQ(sample(*p, "/data", fs_readonly), 0);  // the mount's ro is the sandbox's
  EXPECT_EQ(sample(*p, "/data", fs_remounted_ro), 0);
  EXPECT_EQ(sample(*p, "/", fs_remounted_ro), 0);
  write("ro");
  EXPECT_EQ(sample(*p, "/data", fs_readonly), 1);
  EXPECT_EQ(sample(*p, "/data", fs_remounted_ro), 1);
  EXPECT_EQ(sample(*p, "/data", fs_remounted_ro), 1);  // and on every sample after
  EXPECT_EQ(sample(*p, "/", fs_remounted_ro), 0);
  auto restarted = probe();
  EXPECT_EQ(sample(*restarted, "/data", fs_remounted_ro), std::nullopt);
  write("rw");
  EXPECT_EQ(sample(*p, "/data", fs_remounted_ro), 0);
  EXPECT_EQ(sample(*restarted, "/data", fs_remounted_ro), 0);
  std::filesystem::remove_all(dir);
}

TEST(FilesystemProbe, IncludeTypesAndExcludeGlobs) {
  auto p = probe_tree("bind", {{"nfs4", "fuse.sshfs"}, {"/media/*", "/tank", "/mnt/my?disk"}});
  EXPECT_EQ(p.mounts(), (std::vector<std::string>{"/", "/var", "/home/u/remote", "/mnt/nfs", "/var/tmp\\134odd"}));
}

TEST(FilesystemProbe, PseudoOnlyWatchesNothingAndAsksNothing) {
  auto p = probe_tree("pseudo");
  EXPECT_EQ(p.error, "");
  EXPECT_TRUE(p.mounts().empty());
  EXPECT_TRUE(p.v.empty());
  EXPECT_TRUE(p.fake->asked.empty());
}

TEST(FilesystemProbe, HundredsOfMounts) {
  std::map<std::string, FsStats> t;
  for (int i = 3; i <= 501; i += 2) t["/mnt/m" + std::to_string(i)] = fs_stats(1, i % 100);
  t["/"] = fs_stats(1, 1);
  auto p = probe_tree("many", {}, t);
  EXPECT_EQ(p.error, "");
  EXPECT_EQ(p.mounts().size(), 251u);  // "/" and the 250 ext4 ones; tmpfs skipped
  EXPECT_EQ(p.v.size(), 251u * fs_metric_count);
  EXPECT_EQ(p.get("/mnt/m99", fs_used_pct), 100);  // 99 of 95 available -> full to users
}

TEST(FilesystemProbe, MissingMountinfoIsAnError) {
  Probed p;
  auto fake = std::make_unique<FakeStatfs>();
  FilesystemProbe probe(ProcRoot("/nonexistent"), {}, std::move(fake));
  Values v;
  auto err = probe.collect(1, v);
  EXPECT_NE(err.find("self/mountinfo"), std::string::npos) << err;
  EXPECT_TRUE(v.empty());
  EXPECT_TRUE(probe.instances().empty());
}

TEST(ThreadedStatfs, AnswersAndFailures) {
  ThreadedStatfs st(2, 5.0);
  auto r = st.stat_all({"/", "/nonexistent/x", "/proc"});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].status, StatfsResult::ok) << r[0].error;
  EXPECT_GT(r[0].stats.blocks, 0u);
  EXPECT_EQ(r[1].status, StatfsResult::failed);
  EXPECT_NE(r[1].error.find("statfs '/nonexistent/x': No such file"), std::string::npos) << r[1].error;
  EXPECT_EQ(r[2].status, StatfsResult::ok);
  EXPECT_EQ(st.stuck(), 0u);
  // Many paths, few threads: all answered.
  std::vector<std::string> many(200, "/");
  for (const auto& x : st.stat_all(many)) EXPECT_EQ(x.status, StatfsResult::ok);
}

// Like the free -k test: the probe on this machine's /proc agrees with df.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

TEST(FilesystemProbe, AgreesWithDfOnThisMachine) {
  FilesystemProbe probe(ProcRoot("/proc"), {});
  Values v;
  probe.collect(1, v);
  auto inst = probe.instances();
  ASSERT_FALSE(inst.empty()) << "no filesystem watched on this machine";
  // df prints one row per mount point given; -P keeps each on one line.
  size_t compared = 0;
  for (size_t k = 0; k < inst.size(); ++k) {
    const std::string& mount = inst[k];
    if (mount.find_first_of(" \\'") != std::string::npos) continue;  // keep the shell line simple
    std::istringstream df(run("df -B1 --output=pcent,avail,ipcent '" + mount + "' | tail -n 1"));
    std::string pcent, ipcent;
    double avail = 0;
    df >> pcent >> avail >> ipcent;
    ASSERT_FALSE(pcent.empty()) << mount;
    auto used = v[k * fs_metric_count + fs_used_pct];
    ASSERT_TRUE(used) << mount;
    // Between the two reads a busy filesystem moves a little.
    EXPECT_NEAR(*used, std::stod(pcent), 1) << mount;
    EXPECT_NEAR(*v[k * fs_metric_count + fs_avail_bytes], avail, std::max(64.0 * (1 << 20), avail * 0.01)) << mount;
    auto iused = v[k * fs_metric_count + fs_inodes_used_pct];
    if (ipcent == "-")
      EXPECT_FALSE(iused) << mount;
    else
      EXPECT_NEAR(iused.value_or(-100), std::stod(ipcent), 1) << mount;
    ++compared;
  }
  EXPECT_GT(compared, 0u);
}

}  // namespace
