#include "probes/probes.h"

#include "probes/filesystem.h"
#include "probes/loadavg.h"
#include "probes/meminfo.h"
#include "probes/pressure.h"
#include "probes/vmstat.h"

namespace imwatch::probes {

std::span<const ProbeInfo> catalogue() {
  static const ProbeInfo list[] = {
      {LoadAvgProbe::probe_name, LoadAvgProbe::metric_table()},
      {MeminfoProbe::probe_name, MeminfoProbe::metric_table()},
      {VmstatProbe::probe_name, VmstatProbe::metric_table()},
      {PressureProbe::probe_name, PressureProbe::metric_table()},
      {FilesystemProbe::probe_name, FilesystemProbe::metric_table()},
  };
  return list;
}

std::vector<std::string> probe_names() {
  std::vector<std::string> names;
  for (const auto& p : catalogue()) names.emplace_back(p.name);
  return names;
}

std::vector<std::string> metric_names() {
  std::vector<std::string> names;
  for (const auto& p : catalogue())
    for (const auto& m : p.metrics) names.emplace_back(m.name);
  return names;
}

// In catalogue() order (probes_test checks it).
bool labelled_family(std::string_view name) {
  for (const auto& p : catalogue())
    for (const auto& m : p.metrics)
      if (m.name == name) return m.labelled;
  return false;
}

std::vector<std::unique_ptr<Probe>> make_probes(const ProcRoot& root, const FilesystemOptions& fs,
                                                std::unique_ptr<Statfs> statfs) {
  std::vector<std::unique_ptr<Probe>> p;
  p.push_back(std::make_unique<LoadAvgProbe>(root));
  p.push_back(std::make_unique<MeminfoProbe>(root));
  p.push_back(std::make_unique<VmstatProbe>(root));
  p.push_back(std::make_unique<PressureProbe>(root));
  p.push_back(std::make_unique<FilesystemProbe>(root, fs, std::move(statfs)));
  return p;
}

}  // namespace imwatch::probes
