#pragma once
// Linear layers: out = alpha * (inp @ W^T) + bias with W row-major [OUT, IN] (PyTorch nn.Linear and
// llm.c layout). All products go through Eigen maps over the caller's storage (DESIGN: one copy
// of every tensor); Eigen splits large GEMMs over the OpenMP threads itself.
#include <gfnlm/core/tensor.hpp>

#include <type_traits>

namespace gfnlm::cpu {

// Pointer arguments that may be null do not take part in deducing S.
template <class S>
using Nullable = std::type_identity_t<S>;

struct MatmulKernels {
  // out: [N,OUT]; inp: [N,IN]; weight: [OUT,IN]; bias: [OUT] or null.
  // accumulate = true adds to out (LoRA's low-rank path joins the base output this way).
  template <class S>
  static void matmul_forward(S* out, const S* inp, const S* weight, const Nullable<S>* bias, int N,
                             int IN, int OUT, S alpha = S(1), bool accumulate = false) {
    MatrixMap<S> o(out, N, OUT);
    ConstMatrixMap<S> x(inp, N, IN), w(weight, OUT, IN);
    if (accumulate)
      o.noalias() += alpha * (x * w.transpose());
    else if (alpha == S(1))
      o.noalias() = x * w.transpose();
    else
      o.noalias() = alpha * (x * w.transpose());
    if (bias) o.rowwise() += ConstVectorMap<S>(bias, OUT).transpose();
  }

  // dinp (=, or += when accumulate_dinp) alpha * dout @ W; dweight += alpha * dout^T @ inp;
  // dbias += sum_n dout (the bias is not scaled by alpha in forward). Any output pointer may be
  // null (frozen weights, or an input that needs no gradient).
  template <class S>
  static void matmul_backward(Nullable<S>* dinp, Nullable<S>* dweight, Nullable<S>* dbias,
                              const S* dout, const S* inp, const S* weight, int N, int IN, int OUT,
                              S alpha = S(1), bool accumulate_dinp = false) {
    ConstMatrixMap<S> d(dout, N, OUT), w(weight, OUT, IN), x(inp, N, IN);
    if (dinp) {
      MatrixMap<S> dx(dinp, N, IN);
      if (accumulate_dinp)
        dx.noalias() += alpha * (d * w);
      else if (alpha == S(1))
        dx.noalias() = d * w;
      else
        dx.noalias() = alpha * (d * w);
    }
    if (dweight) MatrixMap<S>(dweight, OUT, IN).noalias() += alpha * (d.transpose() * x);
    if (dbias) VectorMap<S>(dbias, OUT) += d.colwise().sum().transpose();
  }
};

}  // namespace gfnlm::cpu
