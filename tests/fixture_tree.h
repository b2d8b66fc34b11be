// A writable /proc fixture tree that tests rewrite between samples, the way
// the kernel never would but an agent must survive: whole files replaced
// atomically (write, then rename over).
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace imwatch::test {

inline void replace_file(const std::string& path, const std::string& text) {
  std::ofstream(path + ".new") << text;
  std::filesystem::rename(path + ".new", path);
}

// A meminfo of 1000000 kB, `pct` percent of it in use, no swap.
inline void write_meminfo_used(const std::string& proc_dir, int pct) {
  long total = 1000000, avail = total - total * pct / 100;
  replace_file(proc_dir + "/meminfo", "MemTotal: " + std::to_string(total) + " kB\nMemFree: " + std::to_string(avail) +
                                          " kB\nMemAvailable: " + std::to_string(avail) +
                                          " kB\nBuffers: 0 kB\nCached: 0 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n");
}

}  // namespace imwatch::test
