#pragma once
// Helpers of the CPU-vs-CUDA agreement tests: random host data, device copies, and the
// comparison every test uses (issue 7: float32 to 1e-4 relative).
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/backend/cuda/backend.cuh>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/model/config.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace gfnlm::test {

inline constexpr double kRelTol = 1e-4;

inline std::vector<float> random_vector(Rng& rng, std::size_t n, double scale = 1.0) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(scale * rng.normal());
  return v;
}

inline std::vector<int32_t> random_tokens(Rng& rng, std::size_t n, int V) {
  std::vector<int32_t> v(n);
  for (auto& x : v) x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(V)));
  return v;
}

// The small GPT-2 the model-level agreement tests share: a vocabulary of 67 (odd, like GPT-2's),
// 2 blocks of 4 heads, width 48.
inline TransformerConfig small_config(bool tied = true) {
  TransformerConfig c;
  c.vocab_size = 67;
  c.max_seq_len = 16;
  c.n_layer = 2;
  c.n_head = 4;
  c.d_model = 48;
  c.tied_head = tied;
  return c;
}

// n values at p (backend Bk's memory) as a host vector.
template <class Bk>
std::vector<float> host_copy(const float* p, std::size_t n) {
  std::vector<float> out(n);
  Bk::to_host(out.data(), p, n);
  return out;
}

// A device copy of host data, and back.
template <class T>
struct Dev {
  cuda::DeviceBuffer<T> buffer;
  explicit Dev(const std::vector<T>& host) : buffer(host.size()) {
    Cuda::from_host(buffer.data(), host.data(), host.size());
  }
  explicit Dev(std::size_t n) : buffer(n) {}
  T* get() { return buffer.data(); }
  std::vector<T> host() const {
    std::vector<T> out(buffer.size());
    Cuda::to_host(out.data(), buffer.data(), out.size());
    return out;
  }
};

// Every element within rel_tol of the reference, relative to |reference| + the reference's RMS
// (entries that cancel to ~0 are judged on the tensor's scale, not their own).
inline void require_close(const std::vector<float>& got, const std::vector<float>& want,
                          const std::string& what, double rel_tol = kRelTol) {
  REQUIRE(got.size() == want.size());
  double sq = 0;
  for (float w : want) sq += double(w) * double(w);
  const double rms = want.empty() ? 0.0 : std::sqrt(sq / want.size());
  std::size_t bad = 0, first = 0;
  double worst = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - double(want[i]));
    const double allowed = rel_tol * (std::abs(double(want[i])) + rms);
    if (!(err <= allowed)) {  // NaN fails too
      if (bad++ == 0) first = i;
      worst = std::max(worst, err / std::max(allowed / rel_tol, 1e-30));
    }
  }
  INFO(what << ": " << bad << " of " << got.size() << " elements differ; first at " << first
            << " (cuda " << (bad ? got[first] : 0.f) << ", cpu " << (bad ? want[first] : 0.f)
            << "), worst relative error " << worst);
  CHECK(bad == 0);
}

// As require_close, with -inf entries (masked log-probs) required at the same places on both.
inline void require_close_with_inf(const std::vector<float>& got, const std::vector<float>& want,
                                   const std::string& what, double rel_tol = kRelTol) {
  REQUIRE(got.size() == want.size());
  std::vector<float> g, w;
  std::size_t mismatched = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const bool wi = std::isinf(want[i]) && want[i] < 0, gi = std::isinf(got[i]) && got[i] < 0;
    if (wi != gi) ++mismatched;
    if (!wi && !gi) g.push_back(got[i]), w.push_back(want[i]);
  }
  INFO(what << ": " << mismatched << " entries -inf on one backend only");
  CHECK(mismatched == 0);
  require_close(g, w, what, rel_tol);
}

}  // namespace gfnlm::test
