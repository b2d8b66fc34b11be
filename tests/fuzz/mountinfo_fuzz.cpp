// parse_mountinfo on arbitrary /proc/self/mountinfo contents, then the
// probe's selection of mounts and their labels: bounded, no crash, errors
// and labels printable (labels name metrics in logs, state files and chat).
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "probes/filesystem.h"
#include "probes/mountinfo.h"

using namespace imwatch::probes;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<Mount> mounts;
  std::string err = parse_mountinfo(text, mounts);
  imwatch::fuzz::check_error(err);
  IMWATCH_FUZZ_CHECK(mounts.size() <= kMaxMounts, err);
  static const FilesystemOptions opt{{"nfs4", "tmpfs"}, {"/media/*", "/excluded"}};
  auto kept = select_mounts(mounts, opt);
  IMWATCH_FUZZ_CHECK(kept.size() <= mounts.size(), err);
  for (const auto& m : kept) {
    IMWATCH_FUZZ_CHECK(m.mount_point != "/excluded", m.mount_point);
    const std::string label = mount_label(m.mount_point);
    for (unsigned char c : label) IMWATCH_FUZZ_CHECK(c >= 0x20 && c != 0x7f, label);
    // No escape survives unescaping twice differently: a label reads back.
    IMWATCH_FUZZ_CHECK(unescape_mount_path(label) == m.mount_point, label);
  }
  return 0;
}
