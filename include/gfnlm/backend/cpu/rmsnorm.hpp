#pragma once
// RMSNorm over the last axis (Llama): out = x / sqrt(mean(x^2) + eps) * weight, keeping 1/rms
// for backward. eps comes from the model config (llama2.c: 1e-5). Part of the LlamaBackend
// concept (concept.hpp).
#include <cmath>
#include <type_traits>

namespace gfnlm::cpu {

struct RmsNormKernels {
  // out, inp: [N,C]; rstd: [N] (nullable: decoding needs no backward); weight: [C].
  template <class S>
  static void rmsnorm_forward(S* out, std::type_identity_t<S>* rstd, const S* inp, const S* weight,
                              int N, int C, double eps) {
#pragma omp parallel for if (static_cast <long>(N) * C > 65536)
    for (int n = 0; n < N; ++n) {
      const S* x = inp + static_cast<long>(n) * C;
      S ss = 0;
      for (int c = 0; c < C; ++c) ss += x[c] * x[c];
      const S r = S(1) / std::sqrt(ss / C + static_cast<S>(eps));
      S* o = out + static_cast<long>(n) * C;
      for (int c = 0; c < C; ++c) o[c] = x[c] * r * weight[c];
      if (rstd) rstd[n] = r;
    }
  }

  // dinp += d inp; dweight += d weight (nullable: frozen gain). With xhat = x r:
  // d x = r (g - xhat mean(g xhat)), g = dout * weight.
  template <class S>
  static void rmsnorm_backward(S* dinp, std::type_identity_t<S>* dweight, const S* dout,
                               const S* inp, const S* weight, const S* rstd, int N, int C) {
    for (int n = 0; n < N; ++n) {
      const S* x = inp + static_cast<long>(n) * C;
      const S* d = dout + static_cast<long>(n) * C;
      S* dx = dinp + static_cast<long>(n) * C;
      const S r = rstd[n];
      S dot = 0;
      for (int c = 0; c < C; ++c) dot += d[c] * weight[c] * x[c] * r;
      dot /= C;
      for (int c = 0; c < C; ++c) {
        const S xhat = x[c] * r;
        if (dweight) dweight[c] += d[c] * xhat;
        dx[c] += r * (d[c] * weight[c] - xhat * dot);
      }
    }
  }
};

}  // namespace gfnlm::cpu
