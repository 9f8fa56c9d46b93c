#pragma once
// GELU, tanh form (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
#include <cmath>

namespace gfnlm::cpu {

struct GeluKernels {
  template <class S>
  static void gelu_forward(S* out, const S* inp, long n) {
    const S k = static_cast<S>(0.7978845608028654);  // sqrt(2/pi)
#pragma omp parallel for simd if (n > 65536)
    for (long i = 0; i < n; ++i) {
      const S x = inp[i];
      out[i] = S(0.5) * x * (S(1) + std::tanh(k * (x + S(0.044715) * x * x * x)));
    }
  }

  // dinp = gelu'(inp) * dout (overwrites; dinp may alias dout).
  template <class S>
  static void gelu_backward(S* dinp, const S* inp, const S* dout, long n) {
    const S k = static_cast<S>(0.7978845608028654);
#pragma omp parallel for simd if (n > 65536)
    for (long i = 0; i < n; ++i) {
      const S x = inp[i];
      const S th = std::tanh(k * (x + S(0.044715) * x * x * x));
      const S sech2 = S(1) - th * th;
      const S local =
          S(0.5) * (S(1) + th) + S(0.5) * x * sech2 * k * (S(1) + S(3) * S(0.044715) * x * x);
      dinp[i] = local * dout[i];
    }
  }
};

}  // namespace gfnlm::cpu
