#pragma once
// Token + learned position embedding on the device; the same argument lists as
// backend/cpu/encoder.hpp, on device pointers (tokens and positions too).
#include <gfnlm/backend/cuda/check.cuh>

#include <cstdint>
#include <type_traits>

namespace gfnlm::cuda {

// One thread per (token, channel). pos == nullptr: position = index % T.
template <class S>
__global__ void encoder_forward_kernel(S* out, const int32_t* tokens, const int32_t* positions,
                                       const S* wte, const S* wpe, long N, int T, int C) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * C) return;
  const long n = i / C;
  const int c = static_cast<int>(i % C);
  const long pos = positions ? positions[n] : n % T;
  out[i] = wte[static_cast<long>(tokens[n]) * C + c] + wpe[pos * C + c];
}

// Rows of dwte collide whenever a token repeats: atomics (float order differs from the CPU's
// serial loop only by rounding).
template <class S>
__global__ void encoder_backward_kernel(S* dwte, S* dwpe, const S* dout, const int32_t* tokens,
                                        long N, int T, int C) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * C) return;
  const long n = i / C;
  const int c = static_cast<int>(i % C);
  const S d = dout[i];
  if (dwte) atomicAdd(dwte + static_cast<long>(tokens[n]) * C + c, d);
  if (dwpe) atomicAdd(dwpe + (n % T) * C + c, d);
}

struct EncoderKernels {
  // out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]   (out: [B,T,C], wte: [V,C], wpe: [maxT,C])
  template <class S>
  static void encoder_forward(S* out, const int32_t* tokens, const S* wte, const S* wpe, int B,
                              int T, int C) {
    const long N = static_cast<long>(B) * T;
    if (N * C == 0) return;
    GFNLM_CUDA_LAUNCH(encoder_forward_kernel<S>, blocks_for(N * C, 256), 256, 0, out, tokens,
                      static_cast<const int32_t*>(nullptr), wte, wpe, N, T, C);
  }

  // N tokens at explicit positions (incremental decoding).
  template <class S>
  static void encoder_forward_at(S* out, const int32_t* tokens, const int32_t* positions,
                                 const S* wte, const S* wpe, int N, int C) {
    if (static_cast<long>(N) * C == 0) return;
    GFNLM_CUDA_LAUNCH(encoder_forward_kernel<S>, blocks_for(static_cast<long>(N) * C, 256), 256, 0,
                      out, tokens, positions, wte, wpe, static_cast<long>(N), 1, C);
  }

  // Accumulates dwte and dwpe (either may be null).
  template <class S>
  static void encoder_backward(std::type_identity_t<S>* dwte, std::type_identity_t<S>* dwpe,
                               const S* dout, const int32_t* tokens, int B, int T, int C) {
    const long N = static_cast<long>(B) * T;
    if (N * C == 0 || (!dwte && !dwpe)) return;
    GFNLM_CUDA_LAUNCH(encoder_backward_kernel<S>, blocks_for(N * C, 256), 256, 0, dwte, dwpe, dout,
                      tokens, N, T, C);
  }
};

}  // namespace gfnlm::cuda
