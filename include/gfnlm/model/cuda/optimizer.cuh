#pragma once
// The ParameterOptimizer (model/optimizer.hpp) of parameters in CUDA memory, and
// BackendOptimizer<Cuda>: what a trainer that only holds a ParameterList of device pointers (the
// Sampler, through LmPolicy<Cuda>) runs on it - AdamW and clipping from adamw.cuh, zeroing with a
// fill kernel, and copies to and from the host for checkpoints (adamw.cuh keeps the host AdamW's
// save format). Model layer: it builds on the backend's kernels, which never include it.
#include <gfnlm/backend/cuda/backend.cuh>
#include <gfnlm/backend/cuda/memory.cuh>
#include <gfnlm/model/cuda/adamw.cuh>
#include <gfnlm/model/optimizer.hpp>
#include <gfnlm/model/parameter.hpp>

#include <cstddef>

namespace gfnlm::cuda {

struct Optimizer : AdamW<float> {
  using AdamW<float>::AdamW;

  static void zero_grad(const ParameterList<float>& params) {
    for (const auto& p : params) MemoryOps::fill(p.grad, p.size, 0.0f);
  }
  static double clip_grad_norm(const ParameterList<float>& params, double max_norm) {
    return gfnlm::cuda::clip_grad_norm(params, max_norm);
  }
  static void to_host(float* dst, const float* src, std::size_t n) {
    MemoryOps::to_host(dst, src, n);
  }
  static void from_host(float* dst, const float* src, std::size_t n) {
    MemoryOps::from_host(dst, src, n);
  }
};

static_assert(ParameterOptimizer<Optimizer>);

}  // namespace gfnlm::cuda

namespace gfnlm::detail {
template <>
struct BackendOptimizerOf<Cuda> {
  using type = cuda::Optimizer;
};
}  // namespace gfnlm::detail
