#pragma once
// Token + learned position embedding (GPT-2's input layer), forward and backward, on raw host
// pointers with explicit sizes so the CUDA backend can mirror the same kernel list.
#include <cstdint>
#include <type_traits>

namespace gfnlm::cpu {

struct EncoderKernels {
  // out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]   (out: [B,T,C], wte: [V,C], wpe: [maxT,C])
  template <class S>
  static void encoder_forward(S* out, const int32_t* tokens, const S* wte, const S* wpe, int B,
                              int T, int C) {
#pragma omp parallel for collapse(2) if (static_cast <long>(B) * T * C > (1L << 15))
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t) {
        S* o = out + (static_cast<long>(b) * T + t) * C;
        const S* e = wte + static_cast<long>(tokens[b * T + t]) * C;
        const S* p = wpe + static_cast<long>(t) * C;
        for (int c = 0; c < C; ++c) o[c] = e[c] + p[c];
      }
  }

  // The same for N tokens at explicit positions (incremental decoding).
  template <class S>
  static void encoder_forward_at(S* out, const int32_t* tokens, const int32_t* positions,
                                 const S* wte, const S* wpe, int N, int C) {
    for (int n = 0; n < N; ++n) {
      S* o = out + static_cast<long>(n) * C;
      const S* e = wte + static_cast<long>(tokens[n]) * C;
      const S* p = wpe + static_cast<long>(positions[n]) * C;
      for (int c = 0; c < C; ++c) o[c] = e[c] + p[c];
    }
  }

  // Accumulates dwte and dwpe (either may be null). Serial over tokens: rows of dwte collide
  // whenever a token repeats, and this layer is a negligible share of the step.
  template <class S>
  static void encoder_backward(std::type_identity_t<S>* dwte, std::type_identity_t<S>* dwpe,
                               const S* dout, const int32_t* tokens, int B, int T, int C) {
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t) {
        const S* d = dout + (static_cast<long>(b) * T + t) * C;
        if (dwte) {
          S* g = dwte + static_cast<long>(tokens[b * T + t]) * C;
          for (int c = 0; c < C; ++c) g[c] += d[c];
        }
        if (dwpe) {
          S* g = dwpe + static_cast<long>(t) * C;
          for (int c = 0; c < C; ++c) g[c] += d[c];
        }
      }
  }
};

}  // namespace gfnlm::cpu
