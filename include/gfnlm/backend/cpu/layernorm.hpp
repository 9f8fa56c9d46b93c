#pragma once
// LayerNorm over the last axis (eps 1e-5 as GPT-2), keeping mean and 1/std for backward.
#include <cmath>
#include <type_traits>

namespace gfnlm::cpu {

struct LayerNormKernels {
  static constexpr double kEps = 1e-5;

  // out, inp: [N,C]; mean, rstd: [N]; weight, bias: [C].
  template <class S>
  static void layernorm_forward(S* out, std::type_identity_t<S>* mean,
                                std::type_identity_t<S>* rstd, const S* inp, const S* weight,
                                const S* bias, int N, int C) {
#pragma omp parallel for if (static_cast <long>(N) * C > (1L << 20))
    for (int n = 0; n < N; ++n) {
      const S* x = inp + static_cast<long>(n) * C;
      S m = 0;
      for (int c = 0; c < C; ++c) m += x[c];
      m /= C;
      S v = 0;
      for (int c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
      v /= C;
      const S r = S(1) / std::sqrt(v + S(kEps));
      S* o = out + static_cast<long>(n) * C;
      for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * r * weight[c] + bias[c];
      if (mean) mean[n] = m;
      if (rstd) rstd[n] = r;
    }
  }

  // dinp += d/dinp; dweight, dbias (nullable, e.g. a frozen base) accumulate.
  template <class S>
  static void layernorm_backward(S* dinp, std::type_identity_t<S>* dweight,
                                 std::type_identity_t<S>* dbias, const S* dout, const S* inp,
                                 const S* weight, const S* mean, const S* rstd, int N, int C) {
#pragma omp parallel for if (static_cast <long>(N) * C > (1L << 20))
    for (int n = 0; n < N; ++n) {
      const S* x = inp + static_cast<long>(n) * C;
      const S* d = dout + static_cast<long>(n) * C;
      const S m = mean[n], r = rstd[n];
      // dxhat = dout * w; dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
      S mean_d = 0, mean_dx = 0;
      for (int c = 0; c < C; ++c) {
        const S dxhat = d[c] * weight[c];
        mean_d += dxhat;
        mean_dx += dxhat * (x[c] - m) * r;
      }
      mean_d /= C;
      mean_dx /= C;
      S* g = dinp + static_cast<long>(n) * C;
      for (int c = 0; c < C; ++c) {
        const S xhat = (x[c] - m) * r;
        g[c] += r * (d[c] * weight[c] - mean_d - xhat * mean_dx);
      }
    }
    if (!dweight && !dbias) return;
    for (int n = 0; n < N; ++n) {
      const S* x = inp + static_cast<long>(n) * C;
      const S* d = dout + static_cast<long>(n) * C;
      const S m = mean[n], r = rstd[n];
      for (int c = 0; c < C; ++c) {
        if (dweight) dweight[c] += d[c] * (x[c] - m) * r;
        if (dbias) dbias[c] += d[c];
      }
    }
  }
};

}  // namespace gfnlm::cpu
