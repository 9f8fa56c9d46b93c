#pragma once
// Causal multi-head self-attention on the device, the same argument lists and layouts as
// backend/cpu/attention.hpp: qkv [B,T,3C] (q | k | v, head h at columns h*hs.. of each third),
// att [B,NH,T,T] softmax probabilities (upper triangle zero), caches [rows, maxT, C].
// The products per (batch, head) are cuBLAS strided-batched GEMMs over the heads of one batch row
// (heads are hs apart, so one stride covers them; batch rows are 3C*T apart, one call each), read
// in cuBLAS's column-major view (a row-major [T, hs] block with leading dimension 3C is its
// transpose [hs, T]). Softmax, its backward and the decode attention are our kernels.
#include <gfnlm/backend/cuda/blas.cuh>
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/reduce.cuh>

#include <cstdint>

namespace gfnlm::cuda {

// Row t of every [T,T] block: softmax over columns 0..t, zero after. One warp per row.
template <class S>
__global__ void causal_softmax_kernel(S* att, long rows, int T) {
  const long row = static_cast<long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int t = static_cast<int>(row % T), len = t + 1;
  S* x = att + row * T;
  S hi = neg_infinity<S>();
  for (int u = lane; u < len; u += 32) hi = x[u] > hi ? x[u] : hi;
  hi = warp_max(hi);
  S sum = 0;
  for (int u = lane; u < len; u += 32) {
    const S e = dev_exp(x[u] - hi);
    x[u] = e;
    sum += e;
  }
  const S inv = S(1) / warp_sum(sum);
  for (int u = lane; u < T; u += 32) x[u] = u < len ? x[u] * inv : S(0);
}

// In place on dp (rows of datt): ds = scale * p * (dp - sum(p * dp)) over 0..t, zero after.
template <class S>
__global__ void causal_softmax_backward_kernel(S* datt, const S* att, long rows, int T, S scale) {
  const long row = static_cast<long>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int len = static_cast<int>(row % T) + 1;
  const S* p = att + row * T;
  S* ds = datt + row * T;
  S dot = 0;
  for (int u = lane; u < len; u += 32) dot += p[u] * ds[u];
  dot = warp_sum(dot);
  for (int u = lane; u < T; u += 32) ds[u] = u < len ? scale * p[u] * (ds[u] - dot) : S(0);
}

template <class S>
__global__ void kv_cache_write_kernel(S* kcache, S* vcache, const S* qkv, const int32_t* rows,
                                      const int32_t* positions, int N, int C, int max_t) {
  const long i = static_cast<long>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<long>(N) * C) return;
  const long n = i / C;
  const int c = static_cast<int>(i % C);
  const long dst = (static_cast<long>(rows[n]) * max_t + positions[n]) * C + c;
  const S* src = qkv + n * 3 * C;
  kcache[dst] = src[C + c];
  vcache[dst] = src[2 * C + c];
}

// One block per (token, head): scores over the row's cached positions 0..pos, softmax, then the
// weighted sum of values. Scores live in the caller's scratch [N,NH,maxT].
template <class S>
__global__ void attention_decode_kernel(S* out, S* scores, const S* qkv, const S* kcache,
                                        const S* vcache, const int32_t* rows,
                                        const int32_t* positions, int NH, int C, int max_t,
                                        S scale) {
  __shared__ S scratch[32];
  const int n = blockIdx.x / NH, h = blockIdx.x % NH, hs = C / NH;
  const int len = positions[n] + 1;
  const long cache = static_cast<long>(rows[n]) * max_t * C + h * hs;
  const S* q = qkv + static_cast<long>(n) * 3 * C + h * hs;
  S* p = scores + (static_cast<long>(n) * NH + h) * max_t;
  S hi = neg_infinity<S>();
  for (int u = threadIdx.x; u < len; u += blockDim.x) {
    const S* k = kcache + cache + static_cast<long>(u) * C;
    S s = 0;
    for (int d = 0; d < hs; ++d) s += q[d] * k[d];
    s *= scale;
    p[u] = s;
    hi = s > hi ? s : hi;
  }
  hi = block_max(hi, scratch);
  S sum = 0;
  for (int u = threadIdx.x; u < len; u += blockDim.x) {
    const S e = dev_exp(p[u] - hi);
    p[u] = e;
    sum += e;
  }
  const S inv = S(1) / block_sum(sum, scratch);  // its __syncthreads publishes p
  for (int u = threadIdx.x; u < len; u += blockDim.x) p[u] *= inv;
  __syncthreads();
  for (int d = threadIdx.x; d < hs; d += blockDim.x) {
    S y = 0;
    for (int u = 0; u < len; ++u) y += p[u] * vcache[cache + static_cast<long>(u) * C + d];
    out[static_cast<long>(n) * C + h * hs + d] = y;
  }
}

struct AttentionKernels {
  // out: [B,T,C]; att: [B,NH,T,T]; qkv: [B,T,3C].
  template <class S>
  static void attention_forward(S* out, S* att, const S* qkv, int B, int T, int C, int NH) {
    if (B <= 0 || T <= 0) return;
    const int hs = C / NH, C3 = 3 * C;
    const S scale = S(1) / static_cast<S>(std::sqrt(static_cast<double>(hs)));
    const long TT = static_cast<long>(T) * T;
    for (int b = 0; b < B; ++b) {
      const S* q = qkv + static_cast<long>(b) * T * C3;
      S* p = att + static_cast<long>(b) * NH * TT;
      // scores^T [T,T] = k (from k^T [hs,T]) * q^T [hs,T]: row-major scores = q k^T
      gemm_strided(CUBLAS_OP_T, CUBLAS_OP_N, T, T, hs, scale, q + C, C3, hs, q, C3, hs, S(0), p, T,
                   TT, NH);
    }
    const long rows = static_cast<long>(B) * NH * T;
    GFNLM_CUDA_LAUNCH(causal_softmax_kernel<S>, blocks_for(rows, 8), 256, 0, att, rows, T);
    for (int b = 0; b < B; ++b) {
      const S* v = qkv + static_cast<long>(b) * T * C3 + 2 * C;
      // y^T [hs,T] = v^T [hs,T] * p^T [T,T]
      gemm_strided(CUBLAS_OP_N, CUBLAS_OP_N, hs, T, T, S(1), v, C3, hs,
                   att + static_cast<long>(b) * NH * TT, T, TT, S(0),
                   out + static_cast<long>(b) * T * C, C, hs, NH);
    }
  }

  // dqkv (overwritten) from dout; datt: scratch [B,NH,T,T].
  template <class S>
  static void attention_backward(S* dqkv, S* datt, const S* dout, const S* qkv, const S* att, int B,
                                 int T, int C, int NH) {
    if (B <= 0 || T <= 0) return;
    const int hs = C / NH, C3 = 3 * C;
    const S scale = S(1) / static_cast<S>(std::sqrt(static_cast<double>(hs)));
    const long TT = static_cast<long>(T) * T;
    for (int b = 0; b < B; ++b) {
      const long off = static_cast<long>(b) * T * C3;
      const S* dy = dout + static_cast<long>(b) * T * C;
      const S* p = att + static_cast<long>(b) * NH * TT;
      S* ds = datt + static_cast<long>(b) * NH * TT;
      // dv = p^T dy:  dv^T [hs,T] = dy^T [hs,T] * p [T,T]
      gemm_strided(CUBLAS_OP_N, CUBLAS_OP_T, hs, T, T, S(1), dy, C, hs, p, T, TT, S(0),
                   dqkv + off + 2 * C, C3, hs, NH);
      // dp = dy v^T:  dp^T [T,T] = v [T,hs] * dy^T [hs,T]
      gemm_strided(CUBLAS_OP_T, CUBLAS_OP_N, T, T, hs, S(1), qkv + off + 2 * C, C3, hs, dy, C, hs,
                   S(0), ds, T, TT, NH);
    }
    const long rows = static_cast<long>(B) * NH * T;
    GFNLM_CUDA_LAUNCH(causal_softmax_backward_kernel<S>, blocks_for(rows, 8), 256, 0, datt, att,
                      rows, T, scale);
    for (int b = 0; b < B; ++b) {
      const long off = static_cast<long>(b) * T * C3;
      const S* ds = datt + static_cast<long>(b) * NH * TT;
      // dq = ds k:    dq^T [hs,T] = k^T [hs,T] * ds^T [T,T]
      gemm_strided(CUBLAS_OP_N, CUBLAS_OP_N, hs, T, T, S(1), qkv + off + C, C3, hs, ds, T, TT, S(0),
                   dqkv + off, C3, hs, NH);
      // dk = ds^T q:  dk^T [hs,T] = q^T [hs,T] * ds [T,T]
      gemm_strided(CUBLAS_OP_N, CUBLAS_OP_T, hs, T, T, S(1), qkv + off, C3, hs, ds, T, TT, S(0),
                   dqkv + off + C, C3, hs, NH);
    }
  }

  // Writes the k and v parts of qkv [N,3C] into the caches [rows,maxT,C] at (rows[n], pos[n]).
  template <class S>
  static void kv_cache_write(S* kcache, S* vcache, const S* qkv, const int32_t* rows,
                             const int32_t* positions, int N, int C, int max_t) {
    if (static_cast<long>(N) * C <= 0) return;
    GFNLM_CUDA_LAUNCH(kv_cache_write_kernel<S>, blocks_for(static_cast<long>(N) * C, 256), 256, 0,
                      kcache, vcache, qkv, rows, positions, N, C, max_t);
  }

  // One query per token n, attending to positions 0..pos[n] of its row in the cache.
  // out: [N,C]; scores: scratch [N,NH,maxT].
  template <class S>
  static void attention_decode(S* out, S* scores, const S* qkv, const S* kcache, const S* vcache,
                               const int32_t* rows, const int32_t* positions, int N, int C, int NH,
                               int max_t) {
    if (N <= 0) return;
    const int hs = C / NH;
    const S scale = S(1) / static_cast<S>(std::sqrt(static_cast<double>(hs)));
    GFNLM_CUDA_LAUNCH(attention_decode_kernel<S>, static_cast<unsigned>(N) * NH, 128, 0, out,
                      scores, qkv, kcache, vcache, rows, positions, NH, C, max_t, scale);
  }
};

}  // namespace gfnlm::cuda
