#pragma once
// The CUDA backend: the same Backend concept as Cpu (backend/concept.hpp), on device pointers.
// Memory is plain cudaMalloc, one allocation per buffer (the model's arenas); GEMMs go to cuBLAS,
// everything else to our kernels, one layer per header as backend/cpu/ (DESIGN: backends). All
// work is queued on the default stream, so calls run in order and to_host waits for the kernels
// before it. Chosen at compile time: Transformer<Cuda> (MatX: backends are types).
// Included only from .cu files compiled by nvcc; link CUDA::cudart and CUDA::cublas (the
// gfnlm_cuda CMake target does both).
#include <gfnlm/backend/concept.hpp>
#include <gfnlm/backend/cuda/attention.cuh>
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/encoder.cuh>
#include <gfnlm/backend/cuda/gelu.cuh>
#include <gfnlm/backend/cuda/layernorm.cuh>
#include <gfnlm/backend/cuda/logprob.cuh>
#include <gfnlm/backend/cuda/matmul.cuh>
#include <gfnlm/backend/cuda/memory.cuh>
#include <gfnlm/backend/cuda/sampling.cuh>

#include <cstddef>

namespace gfnlm {

struct Cuda : cuda::MemoryOps,
              cuda::EncoderKernels,
              cuda::LayerNormKernels,
              cuda::MatmulKernels,
              cuda::AttentionKernels,
              cuda::GeluKernels,
              cuda::ResidualKernels,
              cuda::LogProbKernels,
              cuda::SamplingKernels {
  static constexpr const char* name = "cuda";
  static constexpr bool host_memory = false;  // pointers are device pointers: use to_host

  template <class T>
  using Buffer = cuda::DeviceBuffer<T>;

  template <class T>
  static Buffer<T> alloc(std::size_t n) {
    return Buffer<T>(n);
  }
  template <class T>
  static T* data(Buffer<T>& buffer) {
    return buffer.data();
  }
  template <class T>
  static const T* data(const Buffer<T>& buffer) {
    return buffer.data();
  }
  template <class T>
  static std::size_t size(const Buffer<T>& buffer) {
    return buffer.size();
  }
};

static_assert(Backend<Cuda>);
static_assert(Backend<Cuda, double>);

}  // namespace gfnlm
