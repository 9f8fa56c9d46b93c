#pragma once
// Residual connection. Its backward is the identity, so the model lets both branches share one
// gradient buffer; residual_backward exists for callers that keep them apart.
namespace gfnlm::cpu {

struct ResidualKernels {
  template <class S>
  static void residual_forward(S* out, const S* a, const S* b, long n) {
#pragma omp parallel for simd if (n > (1L << 15))  // a fork/join costs a few microseconds
    for (long i = 0; i < n; ++i) out[i] = a[i] + b[i];
  }

  template <class S>
  static void residual_backward(S* da, S* db, const S* dout, long n) {
    for (long i = 0; i < n; ++i) {
      da[i] += dout[i];
      db[i] += dout[i];
    }
  }
};

}  // namespace gfnlm::cpu
