#include "probes/probes.h"

#include "probes/loadavg.h"
#include "probes/meminfo.h"
#include "probes/pressure.h"
#include "probes/vmstat.h"

namespace imwatch::probes {

std::vector<std::unique_ptr<Probe>> make_probes(const ProcRoot& root) {
  std::vector<std::unique_ptr<Probe>> p;
  p.push_back(std::make_unique<LoadAvgProbe>(root));
  p.push_back(std::make_unique<MeminfoProbe>(root));
  p.push_back(std::make_unique<VmstatProbe>(root));
  p.push_back(std::make_unique<PressureProbe>(root));
  return p;
}

}  // namespace imwatch::probes
