// A statfs(2) for unit tests: figures from a table, by path; a path not in
// it fails as ENOENT would; a path in `hang` answers timed_out (what the
// threaded one says of a call stuck in the kernel). Records what it was asked.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "probes/statfs.h"

namespace imwatch::test {

class FakeStatfs final : public probes::Statfs {
 public:
  std::map<std::string, probes::FsStats> table;
  std::set<std::string> hang;
  std::vector<std::string> asked;

  std::vector<probes::StatfsResult> stat_all(const std::vector<std::string>& paths) override {
    std::vector<probes::StatfsResult> out;
    for (const auto& p : paths) {
      asked.push_back(p);
      if (hang.count(p)) {
        out.push_back({probes::StatfsResult::timed_out, {}, "statfs '" + p + "': no answer within 1000 ms"});
      } else if (auto it = table.find(p); it != table.end()) {
        out.push_back({probes::StatfsResult::ok, it->second, ""});
      } else {
        out.push_back({probes::StatfsResult::failed, {}, "statfs '" + p + "': No such file or directory"});
      }
    }
    return out;
  }
};

// 4 KiB blocks: `size_gib` in all, `used_pct` of it used, 5% reserved for
// root; inodes 1000, `inodes_used` of them used.
inline probes::FsStats fs_stats(double size_gib, double used_pct, uint64_t inodes_used = 100) {
  const uint64_t blocks = static_cast<uint64_t>(size_gib * 262144);
  const uint64_t used = static_cast<uint64_t>(static_cast<double>(blocks) * used_pct / 100);
  const uint64_t bfree = blocks - used;
  return {4096, blocks, bfree, bfree > blocks / 20 ? bfree - blocks / 20 : 0, 1000, 1000 - inodes_used};
}

}  // namespace imwatch::test
