#pragma once
// Helpers shared by the benchmark programs: the median of timed runs and the process's peak
// resident memory (issue 8, acceptance 3 compares it with the PyTorch peer's).
#include <sys/resource.h>

#include <algorithm>
#include <vector>

namespace gfnlm::bench {

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Which GEMM the CPU backend was built with (backend/cpu/matmul.hpp), for the results table.
inline const char* gemm_backend() {
#ifdef GFNLM_WITH_CBLAS
  return "openblas";
#else
  return "eigen";
#endif
}

// Peak resident set size of this process so far, in MiB (Linux reports ru_maxrss in KiB).
inline double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

}  // namespace gfnlm::bench
