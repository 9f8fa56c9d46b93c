#pragma once
// The CPU backend: host memory in xtensor containers, GEMMs through Eigen maps, OpenMP threads.
// It is the reference every other backend must agree with (DESIGN: backends). The kernels live
// one layer per header under cpu/ and are gathered here as static members, so a model calls
// Backend::layernorm_forward(...) and the backend is chosen at compile time (no virtual calls).
#include <gfnlm/backend/concept.hpp>
#include <gfnlm/backend/cpu/attention.hpp>
#include <gfnlm/backend/cpu/encoder.hpp>
#include <gfnlm/backend/cpu/gelu.hpp>
#include <gfnlm/backend/cpu/gqa_attention.hpp>
#include <gfnlm/backend/cpu/layernorm.hpp>
#include <gfnlm/backend/cpu/logprob.hpp>
#include <gfnlm/backend/cpu/matmul.hpp>
#include <gfnlm/backend/cpu/residual.hpp>
#include <gfnlm/backend/cpu/rmsnorm.hpp>
#include <gfnlm/backend/cpu/rope.hpp>
#include <gfnlm/backend/cpu/swiglu.hpp>
#include <gfnlm/backend/cpu/top_tokens.hpp>
#include <gfnlm/core/tensor.hpp>

#include <Eigen/Core>

#include <algorithm>
#include <cstddef>

namespace gfnlm {

struct Cpu : cpu::EncoderKernels,
             cpu::LayerNormKernels,
             cpu::MatmulKernels,
             cpu::AttentionKernels,
             cpu::GeluKernels,
             cpu::ResidualKernels,
             cpu::LogProbKernels,
             cpu::RmsNormKernels,
             cpu::RopeKernels,
             cpu::SwiGluKernels,
             cpu::GqaAttentionKernels,
             cpu::TopTokenKernels {
  static constexpr const char* name = "cpu";
  static constexpr bool host_memory = true;  // pointers may be read directly by the caller

  // One flat container per arena (parameters, activations, caches); tensors are offsets in it.
  // Aligned to Eigen's largest packet: Eigen's vectorised reductions (LayerNorm, softmax) peel
  // scalar terms up to the first aligned address, so the rounding of a row's sum depends on the
  // arena's address modulo the packet size unless every arena starts aligned. Aligned, the same
  // model gives bit-identical results in any process (checkpoints resume exactly).
  template <class T>
  using Buffer = xt::xtensor_container<xt::uvector<T, Eigen::aligned_allocator<T>>, 1,
                                       xt::layout_type::row_major>;

  template <class T>
  static Buffer<T> alloc(std::size_t n) {
    Buffer<T> buffer = xt::zeros<T>({n});
    return buffer;
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
  template <class T>
  static void fill(T* dst, std::size_t n, T value) {
    std::fill(dst, dst + n, value);
  }
  template <class T>
  static void to_host(T* host_dst, const T* src, std::size_t n) {
    std::copy(src, src + n, host_dst);
  }
  template <class T>
  static void from_host(T* dst, const T* host_src, std::size_t n) {
    std::copy(host_src, host_src + n, dst);
  }
  template <class T>
  static void copy(T* dst, const T* src, std::size_t n) {
    std::copy(src, src + n, dst);
  }
  static void synchronize() {}
};

static_assert(Backend<Cpu>);
static_assert(LlamaBackend<Cpu>);

}  // namespace gfnlm
