#pragma once
// GELU, tanh form (GPT-2): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). The tanh goes through
// Eigen's vectorised array tanh: scalar libm tanh made this layer cost as much as the MLP's GEMM.
#include <Eigen/Core>

#include <algorithm>

namespace gfnlm::cpu {

struct GeluKernels {
  template <class S>
  static void gelu_forward(S* out, const S* inp, long n) {
    for_chunks(n, [&](long begin, long len) {
      Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>> x(inp + begin, len);
      Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>> o(out + begin, len);
      o = S(0.5) * x * (S(1) + (S(kSqrt2OverPi) * (x + S(0.044715) * x.cube())).tanh());
    });
  }

  // dinp = gelu'(inp) * dout (overwrites; dinp may alias dout).
  template <class S>
  static void gelu_backward(S* dinp, const S* inp, const S* dout, long n) {
    for_chunks(n, [&](long begin, long len) {
      Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>> x(inp + begin, len),
          d(dout + begin, len);
      Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>> g(dinp + begin, len);
      // a chunk-sized buffer on the stack: dinp may alias dout, and the step must not allocate
      Eigen::Array<S, Eigen::Dynamic, 1, 0, kChunk, 1> th(len);
      th = (S(kSqrt2OverPi) * (x + S(0.044715) * x.cube())).tanh();
      g = (S(0.5) * (S(1) + th) + S(0.5) * x * (S(1) - th.square()) * S(kSqrt2OverPi) *
                                      (S(1) + S(3 * 0.044715) * x.square())) *
          d;
    });
  }

 private:
  static constexpr double kSqrt2OverPi = 0.7978845608028654;
  static constexpr long kChunk = 4096;

  // Cache-sized chunks shared among the threads (one chunk when small).
  template <class F>
  static void for_chunks(long n, F&& f) {
    const long chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 16)
    for (long c = 0; c < chunks; ++c) f(c * kChunk, std::min(kChunk, n - c * kChunk));
  }
};

}  // namespace gfnlm::cpu
