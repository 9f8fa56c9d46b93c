#pragma once
// The Backend concept: what Transformer<Backend, Scalar> needs from a device (DESIGN: backends).
// A backend is a type with static members: memory (alloc / data / fill / copies to and from the
// host) and one forward and one backward kernel per layer on raw pointers with explicit sizes
// (llm.c style). Cpu (backend/cpu.hpp) is the reference; a CUDA backend mirrors the same list on
// device pointers. Checked at compile time, never dispatched at run time (MatX).
#include <gfnlm/backend/row_mask.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace gfnlm {

template <class B, class S = float>
concept Backend = requires(S* p, const S* cp, const int32_t* tok, std::size_t n, int i, long l,
                           int32_t* drawn, double* logq, const double* cd, const RowMask& mask,
                           typename B::template Buffer<S>& buffer) {
  { B::name } -> std::convertible_to<const char*>;
  // Memory.
  { B::template alloc<S>(n) } -> std::same_as<typename B::template Buffer<S>>;
  { B::data(buffer) } -> std::same_as<S*>;
  { B::size(buffer) } -> std::convertible_to<std::size_t>;
  B::fill(p, n, S(0));
  B::to_host(p, cp, n);
  B::from_host(p, cp, n);
  B::copy(p, cp, n);
  B::synchronize();
  // Kernels (argument lists as in backend/cpu/*.hpp).
  B::encoder_forward(p, tok, cp, cp, i, i, i);
  B::encoder_forward_at(p, tok, tok, cp, cp, i, i);
  B::encoder_backward(p, p, cp, tok, i, i, i);
  B::layernorm_forward(p, p, p, cp, cp, cp, i, i);
  B::layernorm_backward(p, p, p, cp, cp, cp, cp, cp, i, i);
  B::matmul_forward(p, cp, cp, cp, i, i, i, S(1), false);
  B::matmul_backward(p, p, p, cp, cp, cp, i, i, i, S(1), false);
  B::attention_forward(p, p, cp, i, i, i, i);
  B::attention_backward(p, p, cp, cp, cp, i, i, i, i);
  B::kv_cache_write(p, p, cp, tok, tok, i, i, i);
  B::attention_decode(p, p, cp, cp, cp, tok, tok, i, i, i, i);
  B::gelu_forward(p, cp, l);
  B::gelu_backward(p, cp, cp, l);
  B::residual_forward(p, cp, cp, l);
  B::residual_backward(p, p, cp, l);
  // The one log-softmax (fused, masked, gathered) and the rollout draw: a policy's masks
  // reach them as a RowMask (backend/row_mask.hpp), so no vocabulary-wide row leaves the device.
  B::logprob_forward(p, p, cp, tok, i, i, i, mask);
  B::logprob_backward(p, cp, cp, cp, tok, i, i, i, false, mask);
  B::sample_tokens(drawn, logq, cp, i, i, cd, cd, mask);
};

// What LlamaTransformer needs beyond Backend: RMSNorm, rotary embeddings, SwiGLU and
// grouped-query attention (backend/cpu/{rmsnorm,rope,swiglu,gqa_attention}.hpp). A separate
// concept so that a backend can serve GPT-2 before it has the Llama kernels (the CUDA one does).
template <class B, class S = float>
concept LlamaBackend = Backend<B, S> &&
    requires(S* p, const S* cp, const int32_t* tok, int i, long l, double d) {
  B::rmsnorm_forward(p, p, cp, cp, i, i, d);
  B::rmsnorm_backward(p, p, cp, cp, cp, cp, i, i);
  B::rope_forward(p, tok, i, i, i, d);
  B::rope_backward(p, tok, i, i, i, d);
  B::swiglu_forward(p, cp, cp, l);
  B::swiglu_backward(p, p, cp, cp, cp, l);
  B::gqa_attention_forward(p, p, cp, cp, cp, i, i, i, i, i);
  B::gqa_attention_backward(p, p, p, p, cp, cp, cp, cp, cp, i, i, i, i, i);
  B::gqa_kv_cache_write(p, p, cp, cp, tok, tok, i, i, i);
  B::gqa_attention_decode(p, p, cp, cp, cp, tok, tok, i, i, i, i, i);
};

}  // namespace gfnlm
