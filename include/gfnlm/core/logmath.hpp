#pragma once
// Log-space maths shared by every layer: stable logsumexp and log-softmax.
#include <algorithm>
#include <cmath>
#include <limits>
#include <span>

namespace gfnlm {

template <class T>
inline constexpr T neg_inf = -std::numeric_limits<T>::infinity();

// log(sum_i exp(x_i)); -inf for an empty or all -inf input (zero total mass).
template <class T>
T logsumexp(std::span<const T> x) {
  T hi = neg_inf<T>;
  for (T v : x) hi = std::max(hi, v);
  if (hi == neg_inf<T>) return hi;
  T sum = 0;
  for (T v : x) sum += std::exp(v - hi);
  return hi + std::log(sum);
}

// log(exp(a) + exp(b)) without overflow.
template <class T>
T logaddexp(T a, T b) {
  if (a == neg_inf<T>) return b;
  if (b == neg_inf<T>) return a;
  const T hi = std::max(a, b);
  return hi + std::log1p(std::exp(-std::abs(a - b)));
}

// out_i = x_i - logsumexp(x); out may alias x.
template <class T>
void log_softmax(std::span<const T> x, std::span<T> out) {
  const T lse = logsumexp(x);
  for (size_t i = 0; i < x.size(); ++i) out[i] = x[i] - lse;
}

}  // namespace gfnlm
