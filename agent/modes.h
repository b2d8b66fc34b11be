// What `imwatch` does in each mode; main.cpp only picks one.
#pragma once

#include "agent/config.h"

namespace imwatch::agent {

// `imwatch --once`: one sample of every probe on stdout. 0, or 1 if a probe failed.
int run_once(const Config& cfg);

}  // namespace imwatch::agent
