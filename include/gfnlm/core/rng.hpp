#pragma once
// A small, fast, fully serialisable random generator (xoshiro256**). The state is four words,
// so a checkpoint stores it exactly and a resumed run draws the same numbers bit-for-bit,
// which std::mt19937 does not make easy across library versions.
#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>

namespace gfnlm {

class Rng {
 public:
  using result_type = uint64_t;
  using State = std::array<uint64_t, 4>;

  explicit Rng(uint64_t seed = 0x9E3779B97F4A7C15ULL) { reseed(seed); }

  void reseed(uint64_t seed) {
    // splitmix64 spreads a small seed over all four words (the authors' recommendation).
    for (auto& word : state_) {
      seed += 0x9E3779B97F4A7C15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31);
    }
  }

  static constexpr uint64_t min() { return 0; }
  static constexpr uint64_t max() { return std::numeric_limits<uint64_t>::max(); }

  uint64_t operator()() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }

  // Uniform integer in [0, n), without modulo bias worth measuring for n << 2^64.
  uint64_t below(uint64_t n) { return static_cast<uint64_t>(uniform() * static_cast<double>(n)); }

  // Standard normal (Box-Muller; one value per call keeps the state simple to save).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // Index drawn with probability proportional to weights (non-negative, not all zero).
  template <class T>
  int categorical(std::span<const T> weights);

  // An independent generator derived from this one (for per-thread or per-query streams).
  Rng split() {
    Rng child(0);
    child.reseed((*this)());
    return child;
  }

  const State& state() const { return state_; }
  void set_state(const State& s) { state_ = s; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  State state_{};
};

// The inverse-CDF draw every categorical sample here uses (Rng::categorical, the policies' draws
// from uniforms the Sampler supplies): the first index whose running sum of weights exceeds
// u x total, u in [0, 1). Weights are non-negative, not all zero.
template <class T>
int categorical_at(std::span<const T> weights, double u) {
  double total = 0;
  for (T w : weights) total += static_cast<double>(w);
  double x = u * total;
  int last_positive = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0) continue;
    last_positive = static_cast<int>(i);
    x -= static_cast<double>(weights[i]);
    if (x < 0) return static_cast<int>(i);
  }
  return last_positive;  // rounding left a sliver: the last non-zero entry owns it
}

template <class T>
int Rng::categorical(std::span<const T> weights) {
  return categorical_at(weights, uniform());
}

// A generator for one named stream (a query at a step, say): a function of the seed and the ids
// alone, so the stream does not depend on what was drawn before it. Each id goes through
// splitmix64's finaliser before the next joins, so (1, 2) and (2, 1) differ.
inline Rng derived_stream(uint64_t seed, std::initializer_list<uint64_t> ids) {
  const auto mix = [](uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(seed);
  for (uint64_t id : ids) h = mix(h ^ id);
  return Rng(h);
}

}  // namespace gfnlm
