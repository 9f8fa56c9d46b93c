#pragma once
// LayerNorm over the last axis (eps 1e-5 as GPT-2), keeping mean and 1/std for backward.
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace gfnlm::cpu {

struct LayerNormKernels {
  template <class S>
  using Row =
      Eigen::Map<std::conditional_t<std::is_const_v<S>,
                                    const Eigen::Array<std::remove_const_t<S>, Eigen::Dynamic, 1>,
                                    Eigen::Array<S, Eigen::Dynamic, 1>>>;

  static constexpr double kEps = 1e-5;

  // out, inp: [N,C]; mean, rstd: [N]; weight, bias: [C].
  template <class S>
  static void layernorm_forward(S* out, std::type_identity_t<S>* mean,
                                std::type_identity_t<S>* rstd, const S* inp, const S* weight,
                                const S* bias, int N, int C) {
#pragma omp parallel for if (static_cast <long>(N) * C > kParallelElements)
    for (int n = 0; n < N; ++n) {
      // Eigen's reductions are vectorised (a plain loop's float sum is not, without -ffast-math).
      const Row<const S> x(inp + static_cast<long>(n) * C, C);
      const S m = x.mean();
      const S r = S(1) / std::sqrt((x - m).square().mean() + S(kEps));
      Row<S>(out + static_cast<long>(n) * C, C) =
          (x - m) * r * Row<const S>(weight, C) + Row<const S>(bias, C);
      if (mean) mean[n] = m;
      if (rstd) rstd[n] = r;
    }
  }

  // dinp += d/dinp; dweight, dbias (nullable, e.g. a frozen base) accumulate.
  template <class S>
  static void layernorm_backward(S* dinp, std::type_identity_t<S>* dweight,
                                 std::type_identity_t<S>* dbias, const S* dout, const S* inp,
                                 const S* weight, const S* mean, const S* rstd, int N, int C) {
#pragma omp parallel for if (static_cast <long>(N) * C > kParallelElements)
    for (int n = 0; n < N; ++n) {
      const Row<const S> x(inp + static_cast<long>(n) * C, C),
          d(dout + static_cast<long>(n) * C, C), w(weight, C);
      const S m = mean[n], r = rstd[n];
      // dxhat = dout * w; dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
      const auto xhat = (x - m) * r;
      const S mean_d = (d * w).mean(), mean_dx = (d * w * xhat).mean();
      Row<S>(dinp + static_cast<long>(n) * C, C) += r * (d * w - mean_d - xhat * mean_dx);
    }
    if (!dweight && !dbias) return;
    // Threads take blocks of columns and sum over rows in order: the same result for any count.
    const int blocks = (C + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for if (blocks > 1 && static_cast <long>(N) * C > kParallelElements)
    for (int blk = 0; blk < blocks; ++blk) {
      const int c0 = blk * kColumnBlock, c1 = std::min(C, c0 + kColumnBlock);
      for (int n = 0; n < N; ++n) {
        const S* x = inp + static_cast<long>(n) * C;
        const S* d = dout + static_cast<long>(n) * C;
        const S m = mean[n], r = rstd[n];
        if (dweight)
          for (int c = c0; c < c1; ++c) dweight[c] += d[c] * (x[c] - m) * r;
        if (dbias)
          for (int c = c0; c < c1; ++c) dbias[c] += d[c];
      }
    }
  }

 private:
  // A fork/join costs a few microseconds: worth it from ~32 K elements (toy model: 262 K).
  static constexpr long kParallelElements = 1L << 15;
  static constexpr int kColumnBlock = 32;
};

}  // namespace gfnlm::cpu
