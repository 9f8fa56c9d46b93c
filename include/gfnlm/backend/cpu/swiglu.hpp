#pragma once
// The SwiGLU gate of Llama's MLP: out = silu(gate) * up with silu(a) = a sigmoid(a); the model
// forms w2(out) with gate = w1 x and up = w3 x. Part of the LlamaBackend concept (concept.hpp).
#include <cmath>

namespace gfnlm::cpu {

struct SwiGluKernels {
  template <class S>
  static void swiglu_forward(S* out, const S* gate, const S* up, long n) {
#pragma omp parallel for simd if (n > 262144)
    for (long i = 0; i < n; ++i) {
      const S a = gate[i];
      out[i] = a / (S(1) + std::exp(-a)) * up[i];
    }
  }

  // dgate, dup (overwritten) from dout.
  template <class S>
  static void swiglu_backward(S* dgate, S* dup, const S* dout, const S* gate, const S* up, long n) {
#pragma omp parallel for simd if (n > 262144)
    for (long i = 0; i < n; ++i) {
      const S a = gate[i], sig = S(1) / (S(1) + std::exp(-a)), d = dout[i];
      dup[i] = d * a * sig;
      dgate[i] = d * up[i] * sig * (S(1) + a * (S(1) - sig));
    }
  }
};

}  // namespace gfnlm::cpu
