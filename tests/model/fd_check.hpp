#pragma once
// Finite differences in double precision for the gradient checks (issue 2, acceptance 1).
// Five-point central stencil (truncation O(h^4)) with h = 5e-4, so rounding noise in the loss
// (about 1e-16 |L| / h) stays near 1e-12 to 1e-11. Relative error per element:
// |analytic - numeric| / max(|analytic|, |numeric|, 1e-5): an element below 1e-5 must agree to
// 1e-11 absolute; exact zeros are handled in rel_err.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <gfnlm/core/rng.hpp>

namespace gfnlm::test {

inline double rel_err(double a, double n) {
  const double big = std::max(std::abs(a), std::abs(n));
  // Structural zeros: the key bias (softmax ignores a shift common to all scores), positions
  // beyond T, tokens absent from the batch. Numeric noise there is ~1e-11, so they pass
  // when they agree to 1e-10 absolute.
  if (big < 1e-9) return std::abs(a - n) / 1e-4;
  return std::abs(a - n) / std::max(big, 1e-5);
}

// Perturbs x[0..n) one element at a time; loss() recomputes the scalar loss from scratch.
// Returns the largest relative error against grad[0..n).
inline double fd_max_rel_err(double* x, const double* grad, std::size_t n,
                             const std::function<double()>& loss, double h = 5e-4) {
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double saved = x[i];
    auto at = [&](double d) {
      x[i] = saved + d;
      return loss();
    };
    const double numeric = (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h);
    x[i] = saved;
    const double e = rel_err(grad[i], numeric);
    worst = std::max(worst, e);
  }
  return worst;
}

inline void report(const std::string& what, double err) {
  std::printf("FD max relative error %-34s %.3e\n", what.c_str(), err);
}

// Random inputs and the weighted-sum loss L = w . y that the layer checks differentiate.
inline std::vector<double> randn(Rng& rng, std::size_t n, double std = 1.0, double mean = 0.0) {
  std::vector<double> v(n);
  for (auto& x : v) x = mean + std * rng.normal();
  return v;
}
inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace gfnlm::test
