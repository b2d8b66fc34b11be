// The list of probes. Adding a probe touches its own file pair and this list
// (an explicit list, not static self-registration: no initialisation order).
#pragma once

#include <memory>
#include <vector>

#include "probes/probe.h"

namespace imwatch::probes {

std::vector<std::unique_ptr<Probe>> make_probes(const ProcRoot& root);

}  // namespace imwatch::probes
