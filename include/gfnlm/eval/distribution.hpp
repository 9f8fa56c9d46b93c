#pragma once
// Distances between a sampler's empirical distribution and a target over a finite support
// (issue 5: validity, KL and total variation to the uniform distribution over 0..100). Inputs are
// counts or unnormalised weights in any range of numbers; each function normalises its inputs.
//
// Naming: kl_<a>_<b> is KL(a || b). "empirical" is the normalised counts; "uniform" puts 1/K on
// each of the K valid bins.
//
// Invalid samples (answers outside the support) get their own bin in the *_with_invalid
// functions. The target puts no mass there, so KL(empirical || target) would be infinite as soon
// as one sample is invalid. The definitions used instead, with m the invalid fraction of all
// samples and p_v the empirical distribution of the valid ones:
//   kl_empirical_uniform_with_invalid = KL(empirical over K+1 bins || target_eps), where
//     target_eps puts epsilon on the invalid bin and (1 - epsilon) / K on each valid bin
//     (epsilon = 1e-6 by default). It splits exactly into
//       (1 - m) KL(p_v || uniform) + KL(Bernoulli(m) || Bernoulli(epsilon)),
//     the shape error of the valid answers plus a validity penalty (m = 0.01 costs ~0.08 nats,
//     m = 0.5 about 6.2). A uniform, always-valid sampler scores -log(1 - epsilon) ~ 1e-6.
//   kl_uniform_empirical_with_invalid = KL(target || empirical over K+1 bins), no epsilon needed:
//     = KL(uniform || p_v) - log(1 - m). Finite only when every valid bin was seen, hence the
//     optional additive smoothing (a pseudo-count on each of the K+1 bins).
//   tv_empirical_uniform_with_invalid = total variation to the target (0 on the invalid bin)
//     = 0.5 (sum_i |p_i - 1/K| + m), with p_i fractions of all samples.
#include <gfnlm/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <ranges>
#include <span>
#include <type_traits>
#include <vector>

namespace gfnlm {

// Counts or weights: any range of arithmetic values (std::vector<int>, std::array<double, N>...).
template <class R>
concept WeightRange =
    std::ranges::input_range<R> && std::is_arithmetic_v<std::ranges::range_value_t<R>>;

namespace detail {

template <WeightRange R>
std::vector<double> to_doubles(const R& values) {
  std::vector<double> out;
  if constexpr (requires { values.size(); }) out.reserve(values.size());
  for (auto v : values) out.push_back(static_cast<double>(v));
  return out;
}

// Checks a non-empty support of finite, non-negative entries and returns their sum.
inline double checked_total(std::span<const double> w, const char* what) {
  GFNLM_CHECK(!w.empty(), "{}: empty support", what);
  double total = 0;
  for (std::size_t i = 0; i < w.size(); ++i) {
    GFNLM_CHECK(std::isfinite(w[i]) && w[i] >= 0, "{}: entry {} is {} (must be finite and >= 0)",
                what, i, w[i]);
    total += w[i];
  }
  return total;
}

inline std::vector<double> normalized(std::span<const double> w, const char* what) {
  const double total = checked_total(w, what);
  GFNLM_CHECK(total > 0, "{}: all {} entries are zero (no mass to normalise)", what, w.size());
  std::vector<double> p(w.begin(), w.end());
  for (double& v : p) v /= total;
  return p;
}

inline void check_scalar(double value, const char* what, const char* name) {
  GFNLM_CHECK(std::isfinite(value) && value >= 0, "{}: {} = {} must be finite and >= 0", what, name,
              value);
}

// sum_i p_i log(p_i / q_i) over normalised vectors; 0 log 0 = 0; p_i > 0 = q_i gives +inf.
inline double kl_normalized(std::span<const double> p, std::span<const double> q) {
  double kl = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    if (q[i] == 0) return std::numeric_limits<double>::infinity();
    kl += p[i] * std::log(p[i] / q[i]);
  }
  return std::max(kl, 0.0);  // rounding can leave -1e-17 for identical inputs
}

inline double kl(std::span<const double> p, std::span<const double> q) {
  GFNLM_CHECK(p.size() == q.size(), "kl_divergence: supports differ ({} vs {} bins)", p.size(),
              q.size());
  return kl_normalized(normalized(p, "kl_divergence p"), normalized(q, "kl_divergence q"));
}

inline double tv(std::span<const double> p, std::span<const double> q) {
  GFNLM_CHECK(p.size() == q.size(), "total_variation: supports differ ({} vs {} bins)", p.size(),
              q.size());
  const auto pn = normalized(p, "total_variation p"), qn = normalized(q, "total_variation q");
  double sum = 0;
  for (std::size_t i = 0; i < pn.size(); ++i) sum += std::abs(pn[i] - qn[i]);
  return 0.5 * sum;
}

// KL(uniform over the K valid bins || (counts + a) / total), where the invalid bin (if counted)
// takes part in the normalisation only.
inline double kl_uniform_smoothed(std::span<const double> counts, double invalid, bool invalid_bin,
                                  double smoothing, const char* what) {
  check_scalar(smoothing, what, "smoothing");
  check_scalar(invalid, what, "invalid count");
  const double k = double(counts.size());
  const double total = checked_total(counts, what) + (invalid_bin ? invalid : 0) +
                       smoothing * (k + (invalid_bin ? 1 : 0));
  GFNLM_CHECK(total > 0, "{}: no samples", what);
  double kl = 0;
  for (double c : counts) {
    const double q = (c + smoothing) / total;
    if (q == 0) return std::numeric_limits<double>::infinity();
    kl += std::log(1.0 / (k * q)) / k;
  }
  return std::max(kl, 0.0);
}

}  // namespace detail

// KL(p || q) between two distributions given as weights on the same support (each normalised).
template <WeightRange P, WeightRange Q>
double kl_divergence(const P& p, const Q& q) {
  return detail::kl(detail::to_doubles(p), detail::to_doubles(q));
}

// Total variation distance 0.5 sum_i |p_i - q_i| (each normalised); in [0, 1].
template <WeightRange P, WeightRange Q>
double total_variation(const P& p, const Q& q) {
  return detail::tv(detail::to_doubles(p), detail::to_doubles(q));
}

// KL(empirical || uniform) over the valid samples only: log K - H(empirical).
template <WeightRange C>
double kl_empirical_uniform(const C& counts) {
  const auto c = detail::to_doubles(counts);
  return detail::kl(c, std::vector<double>(c.size(), 1.0));
}

// KL(uniform || empirical) over the valid samples; +inf when a bin is empty unless smoothing
// (a pseudo-count added to every bin) is > 0.
template <WeightRange C>
double kl_uniform_empirical(const C& counts, double smoothing = 0) {
  return detail::kl_uniform_smoothed(detail::to_doubles(counts), 0, false, smoothing,
                                     "kl_uniform_empirical");
}

// Total variation between the valid samples' empirical distribution and uniform.
template <WeightRange C>
double tv_empirical_uniform(const C& counts) {
  const auto c = detail::to_doubles(counts);
  return detail::tv(c, std::vector<double>(c.size(), 1.0));
}

// KL(empirical over K+1 bins || target_eps); see the top of this header. 0 < epsilon < 1.
template <WeightRange C>
double kl_empirical_uniform_with_invalid(const C& valid_counts, double invalid_count,
                                         double epsilon = 1e-6) {
  constexpr const char* what = "kl_empirical_uniform_with_invalid";
  GFNLM_CHECK(epsilon > 0 && epsilon < 1, "{}: epsilon = {} must lie in (0, 1)", what, epsilon);
  detail::check_scalar(invalid_count, what, "invalid count");
  auto c = detail::to_doubles(valid_counts);
  const double valid_bin = (1 - epsilon) / double(c.size());
  std::vector<double> target(c.size(), valid_bin);
  c.push_back(invalid_count);
  target.push_back(epsilon);
  return detail::kl_normalized(detail::normalized(c, what), target);
}

// KL(target || empirical over K+1 bins) = KL(uniform || p_valid) - log(valid fraction).
template <WeightRange C>
double kl_uniform_empirical_with_invalid(const C& valid_counts, double invalid_count,
                                         double smoothing = 0) {
  return detail::kl_uniform_smoothed(detail::to_doubles(valid_counts), invalid_count, true,
                                     smoothing, "kl_uniform_empirical_with_invalid");
}

// Total variation to the target that puts 1/K on each valid bin and 0 on the invalid bin.
template <WeightRange C>
double tv_empirical_uniform_with_invalid(const C& valid_counts, double invalid_count) {
  constexpr const char* what = "tv_empirical_uniform_with_invalid";
  detail::check_scalar(invalid_count, what, "invalid count");
  auto c = detail::to_doubles(valid_counts);
  std::vector<double> target(c.size(), 1.0);
  c.push_back(invalid_count);
  target.push_back(0.0);
  return detail::tv(c, target);
}

// Every figure of issue 5 for one sampler at once. Figures that need valid samples are NaN when
// there are none (a report must not throw for a model that never answers validly).
struct UniformityReport {
  double samples = 0;              // valid + invalid
  double valid_fraction = 0;       // valid / samples
  std::size_t support = 0;         // K, the number of valid bins
  std::size_t distinct_valid = 0;  // valid bins seen at least once
  double kl_valid = 0;             // kl_empirical_uniform
  double kl_with_invalid = 0;      // kl_empirical_uniform_with_invalid, epsilon 1e-6
  double kl_uniform_valid = 0;     // kl_uniform_empirical (no smoothing; +inf if a bin is unseen)
  double tv_valid = 0;             // tv_empirical_uniform
  double tv_with_invalid = 0;      // tv_empirical_uniform_with_invalid
};

template <WeightRange C>
UniformityReport uniformity_report(const C& valid_counts, double invalid_count) {
  const auto c = detail::to_doubles(valid_counts);
  const double valid = detail::checked_total(c, "uniformity_report");
  detail::check_scalar(invalid_count, "uniformity_report", "invalid count");
  UniformityReport r;
  r.samples = valid + invalid_count;
  GFNLM_CHECK(r.samples > 0, "uniformity_report: no samples");
  r.valid_fraction = valid / r.samples;
  r.support = c.size();
  r.distinct_valid =
      static_cast<std::size_t>(std::ranges::count_if(c, [](double v) { return v > 0; }));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  r.kl_valid = valid > 0 ? kl_empirical_uniform(c) : nan;
  r.kl_uniform_valid = valid > 0 ? kl_uniform_empirical(c) : nan;
  r.tv_valid = valid > 0 ? tv_empirical_uniform(c) : nan;
  r.kl_with_invalid = kl_empirical_uniform_with_invalid(c, invalid_count);
  r.tv_with_invalid = tv_empirical_uniform_with_invalid(c, invalid_count);
  return r;
}

}  // namespace gfnlm
