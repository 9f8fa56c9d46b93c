// matmul_forward streams large weights for a few rows (decoding) instead of Eigen's packed GEMM
// (issue 8: packing was 46% of GPT-2 sampling). Both paths must give the same products for
// every row count up to the threshold, with and without bias, alpha and accumulation, and
// output widths that leave 1-3 rows after the 4-row blocks.
#include <gfnlm/backend/cpu/matmul.hpp>
#include <gfnlm/core/rng.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

namespace {

using gfnlm::cpu::MatmulKernels;

std::vector<float> random_vector(gfnlm::Rng& rng, std::size_t n) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  return v;
}

// The plain definition, in double: alpha * inp W^T (+ bias) (+ previous out), and beside it the
// sum of the terms' magnitudes, the scale of float rounding (a dot product of IN terms can cancel
// to near zero while its rounding error does not).
struct Reference {
  std::vector<double> value, magnitude;
};

Reference reference(const std::vector<float>& inp, const std::vector<float>& w, const float* bias,
                    const std::vector<float>& before, int N, int IN, int OUT, float alpha,
                    bool accumulate) {
  Reference r{std::vector<double>(static_cast<std::size_t>(N) * OUT),
              std::vector<double>(static_cast<std::size_t>(N) * OUT)};
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < OUT; ++o) {
      double dot = 0, mag = 0;
      for (int i = 0; i < IN; ++i) {
        const double term = double(inp[n * IN + i]) * w[static_cast<long>(o) * IN + i];
        dot += term;
        mag += std::abs(term);
      }
      const double prev = accumulate ? before[n * OUT + o] : 0.0, b = bias ? bias[o] : 0.0;
      r.value[n * OUT + o] = prev + alpha * dot + b;
      r.magnitude[n * OUT + o] = std::abs(prev) + alpha * mag + std::abs(b);
    }
  return r;
}

}  // namespace

TEST_CASE("matmul_forward: the few-rows streaming path equals the GEMM", "[model][matmul]") {
  gfnlm::Rng rng(5);
  const int IN = 384, OUT = 1027;  // 1.5 MiB of float weights: above the streaming threshold
  REQUIRE(long(IN) * OUT * sizeof(float) > MatmulKernels::kCachedWeightBytes);
  const auto w = random_vector(rng, static_cast<std::size_t>(IN) * OUT);
  const auto bias = random_vector(rng, OUT);
  for (int N : {1, 3, 8, MatmulKernels::kFewRows, MatmulKernels::kFewRows + 1}) {
    const auto inp = random_vector(rng, static_cast<std::size_t>(N) * IN);
    const auto before = random_vector(rng, static_cast<std::size_t>(N) * OUT);
    for (const bool with_bias : {false, true})
      for (const bool accumulate : {false, true})
        for (const float alpha : {1.0f, 0.5f}) {
          std::vector<float> out = before;
          MatmulKernels::matmul_forward(out.data(), inp.data(), w.data(),
                                        with_bias ? bias.data() : nullptr, N, IN, OUT, alpha,
                                        accumulate);
          const auto want = reference(inp, w, with_bias ? bias.data() : nullptr, before, N, IN, OUT,
                                      alpha, accumulate);
          double worst = 0;
          for (std::size_t k = 0; k < want.value.size(); ++k)
            worst = std::max(worst, std::abs(out[k] - want.value[k]) / want.magnitude[k]);
          INFO("N " << N << " bias " << with_bias << " accumulate " << accumulate << " alpha "
                    << alpha);
          CHECK(worst < 1e-6);  // float epsilon is 6e-8
        }
  }
}
