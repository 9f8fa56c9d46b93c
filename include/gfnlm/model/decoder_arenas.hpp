#pragma once
// What a decoder owns besides its blocks, written once for GPT-2 (transformer.hpp) and Llama
// (llama.hpp): the parameter arena; the base weights' gradient arena and d logits, each allocated
// at first use; the activation arena for the last forward's (B, T) and LoRA rank, growing only;
// the token ids; the pointer tables into all of them (llm.c's layout structs), re-pointed on
// copy; and cross-entropy, one client of the model's backward. The blocks stay in the models.
//
// Derived (CRTP, befriending this class) provides backward(const Scalar* dlogits) and
// zero_adapter_grads(). Layout (gpt2::Layout<Scalar>, llama::Layout<Scalar>) names the model's
// tables, Config (with validate() and vocab_size), Params and Acts, and param_count(config); the
// tables' own namespace has point_params(Params&, Scalar*, config) and
// point_acts(Acts&, Scalar* or nullptr to measure, config, B, T, lora_rank) -> size.
#include <gfnlm/core/error.hpp>
#include <gfnlm/model/cross_entropy.hpp>

#include <cstddef>
#include <cstdint>

namespace gfnlm {

template <class Derived, class Bk, class Scalar, class Layout>
class DecoderArenas {
 public:
  using Config = typename Layout::Config;

  const Config& config() const { return cfg_; }
  std::size_t num_parameters() const { return Layout::param_count(cfg_); }
  int batch_size() const { return B_; }
  int seq_len() const { return T_; }

  // [B, T, V] logits of the last forward (backend memory; host memory for Cpu).
  const Scalar* logits() const { return A_.logits; }
  // The [B, T, V] d logits workspace of the last forward (backend memory), for a caller that
  // fills it (LmPolicy's gathered backward, model/cross_entropy.hpp) and hands it to backward().
  Scalar* dlogits_workspace() {
    ensure_dlogits();
    return A_.dlogits;
  }

  // Mean cross-entropy of the last forward over positions whose target is >= 0 and whose mask
  // (nullable, [B, T]) is non-zero. Remembers the positions for backward_cross_entropy().
  double cross_entropy(const int32_t* targets, const uint8_t* mask = nullptr) {
    GFNLM_CHECK(B_ > 0, "cross_entropy() called before forward()");
    return ce_.forward(A_.logits, A_.logp, A_.lse, targets, mask, B_ * T_, cfg_.vocab_size);
  }
  // Gradient of the last cross_entropy() into the parameters (fills d logits, calls backward).
  void backward_cross_entropy() {
    GFNLM_CHECK(B_ > 0, "backward_cross_entropy() called before forward()");
    ensure_dlogits();
    ce_.backward(A_.dlogits, A_.logp, A_.logits, A_.lse, B_ * T_, cfg_.vocab_size);
    static_cast<Derived&>(*this).backward(A_.dlogits);
  }

  void zero_grad() {
    if (Bk::size(grads_) > 0) Bk::fill(Bk::data(grads_), Bk::size(grads_), Scalar(0));
    static_cast<Derived&>(*this).zero_adapter_grads();
  }

 protected:
  // Weights uninitialised (zero): the model fills them.
  explicit DecoderArenas(const Config& config) : cfg_(config) {
    cfg_.validate();
    params_ = Bk::template alloc<Scalar>(num_parameters());
    repoint();
  }
  DecoderArenas(const DecoderArenas& o)
      : cfg_(o.cfg_),
        params_(o.params_),
        grads_(o.grads_),
        acts_(o.acts_),
        tokens_(o.tokens_),
        B_(o.B_),
        T_(o.T_),
        rank_(o.rank_),
        ce_(o.ce_) {
    repoint();  // d logits is scratch: the copy allocates its own at its first backward
  }
  DecoderArenas& operator=(const DecoderArenas& o) {
    if (this != &o) {
      DecoderArenas copy(o);
      *this = std::move(copy);
    }
    return *this;
  }
  DecoderArenas(DecoderArenas&&) noexcept = default;
  DecoderArenas& operator=(DecoderArenas&&) noexcept = default;
  ~DecoderArenas() = default;

  // Sizes the activation arena and the token ids for (B, T) at LoRA rank r (growing only) and
  // points A_ into it.
  void prepare_arenas(int B, int T, int r) {
    const std::size_t need = point_acts(A_, static_cast<Scalar*>(nullptr), cfg_, B, T, r);
    if (Bk::size(acts_) < need) acts_ = Bk::template alloc<Scalar>(need);
    const std::size_t N = static_cast<std::size_t>(B) * T;
    if (Bk::size(tokens_) < N) tokens_ = Bk::template alloc<int32_t>(N);
    B_ = B;
    T_ = T;
    rank_ = r;
    point_acts(A_, Bk::data(acts_), cfg_, B, T, r);
    A_.dlogits = dlogits_for_shape();
  }
  // The next forward re-lays out the activations (the adapters changed).
  void forget_shape() { B_ = T_ = 0; }

  // The base weights' gradient arena, allocated (zeroed) when first needed: a LoRA fine-tune
  // never writes it, and at GPT-2 small it is 498 MB of the GFlowNet step's peak memory.
  void ensure_grads() {
    if (Bk::size(grads_) > 0) return;
    grads_ = Bk::template alloc<Scalar>(num_parameters());
    point_params(G_, Bk::data(grads_), cfg_);
  }

  // d logits [B, T, V] in a buffer of its own, allocated at the first backward of a shape: the
  // forward-only passes (rewards, evaluation, decoding) never touch it, and at GPT-2's vocabulary
  // it is 103 MB for a reward pass of 16 rows x 32 positions.
  void ensure_dlogits() {
    const std::size_t need = static_cast<std::size_t>(B_) * T_ * cfg_.vocab_size;
    if (Bk::size(dlogits_) < need) dlogits_ = Bk::template alloc<Scalar>(need);
    A_.dlogits = Bk::data(dlogits_);
  }

  Config cfg_;
  typename Bk::template Buffer<Scalar> params_, grads_, acts_, dlogits_;
  typename Bk::template Buffer<int32_t> tokens_;
  typename Layout::Params P_{}, G_{};
  typename Layout::Acts A_{};
  int B_ = 0, T_ = 0, rank_ = 0;

 private:
  Scalar* dlogits_for_shape() {
    const std::size_t need = static_cast<std::size_t>(B_) * T_ * cfg_.vocab_size;
    return need > 0 && Bk::size(dlogits_) >= need ? Bk::data(dlogits_) : nullptr;
  }
  void repoint() {
    point_params(P_, Bk::data(params_), cfg_);
    G_ = {};
    if (Bk::size(grads_) > 0) point_params(G_, Bk::data(grads_), cfg_);
    if (B_ > 0) point_acts(A_, Bk::data(acts_), cfg_, B_, T_, rank_);
    A_.dlogits = dlogits_for_shape();
  }

  CrossEntropy<Bk, Scalar> ce_;
};

}  // namespace gfnlm
