#pragma once
// The part of a model's API that is about its LoRA adapters and which of its parameters train,
// the same for every architecture (Transformer, LlamaTransformer): a CRTP base, so each model
// keeps only its layers. Derived supplies config(), base_parameters() and relayout(), the last
// called when the adapters change shape (activation arenas reserve adapter space).
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/model/config.hpp>
#include <gfnlm/model/parameter.hpp>
#include <gfnlm/model/trainable_tokens.hpp>

#include <istream>
#include <optional>
#include <ostream>
#include <span>
#include <type_traits>
#include <utility>

namespace gfnlm {

template <class Derived, class Adapters, class Scalar>
class LoraHost {
 public:
  // The trainable parameters: the base ones if the base is trainable, plus the adapters and the
  // trainable token rows if any.
  ParameterList<Scalar> parameters() {
    ParameterList<Scalar> list;
    if (base_trainable_) list = derived().base_parameters();
    if (lora_) {
      auto more = lora_->parameters();
      list.insert(list.end(), more.begin(), more.end());
    }
    if (token_rows_) {
      auto more = token_rows_->parameters();
      list.insert(list.end(), more.begin(), more.end());
    }
    return list;
  }

  // Trains the embedding and head rows of `tokens` beside the adapters, as deltas that start at
  // zero (model/trainable_tokens.hpp: for tokens the base never learned); replaces any earlier
  // list and freezes the base. On while adapters are enabled. CPU backend only, so far.
  void enable_trainable_tokens(std::span<const int32_t> tokens) {
    GFNLM_CHECK((std::is_same_v<typename Adapters::Backend, Cpu>),
                "enable_trainable_tokens: trainable token rows run on the CPU backend only");
    const auto& c = derived().config();
    token_rows_.emplace(c.vocab_size, c.d_model, c.tied_head, tokens);
    base_trainable_ = false;
  }
  // The trainable token ids (empty: none).
  std::span<const int32_t> trainable_tokens() const {
    return token_rows_ ? token_rows_->tokens() : std::span<const int32_t>{};
  }

  ParameterList<Scalar> lora_parameters() {
    return lora_ ? lora_->parameters() : ParameterList<Scalar>{};
  }

  void set_base_trainable(bool trainable) { base_trainable_ = trainable; }
  bool base_trainable() const { return base_trainable_; }

  // Adds fresh adapters (replacing any) and freezes the base.
  void enable_lora(const LoraConfig& lora, Rng& rng) {
    lora_.emplace(derived().config(), lora);
    lora_->init(rng);
    adopt_adapters();
  }
  bool has_lora() const { return lora_.has_value(); }
  const LoraConfig* lora_config() const { return lora_ ? &lora_->config() : nullptr; }

  // Off: forward, backward and decode are exactly the base model (the frozen reward's view).
  void set_adapters_enabled(bool enabled) { adapters_enabled_ = enabled; }
  bool adapters_enabled() const { return adapters_enabled_; }

  void save_adapters(std::ostream& os) const {
    GFNLM_CHECK(lora_.has_value(), "save_adapters: this model has no LoRA adapters");
    GFNLM_CHECK(!token_rows_,
                "save_adapters: the adapter stream holds LoRA weights only, and this "
                "model also trains {} token rows (enable_trainable_tokens); a Sampler checkpoint "
                "saves them with the rest",
                token_rows_ ? token_rows_->tokens().size() : 0);
    lora_->save(os);
  }
  // Replaces the adapters with those in the stream (rank and targets from the stream; the shape
  // must match this model). Freezes the base, as enable_lora does.
  void load_adapters(std::istream& is) {
    const LoraConfig c = Adapters::read_header(is, derived().config());
    Adapters fresh(derived().config(), c);
    fresh.read_values(is);
    lora_.emplace(std::move(fresh));
    adopt_adapters();
  }

 protected:
  void zero_adapter_grads() {
    if (lora_) lora_->zero_grad();
    if (token_rows_) token_rows_->zero_grad();
  }
  // A whole-model load replaces the base: adapters trained on the old one no longer apply.
  void drop_adapters() {
    lora_.reset();
    token_rows_.reset();
    base_trainable_ = true;
  }
  // The token deltas the forward pass adds now (null: none, or adapters off).
  const TrainableTokens<Scalar>* active_tokens() const {
    return token_rows_ && adapters_enabled_ ? &*token_rows_ : nullptr;
  }
  TrainableTokens<Scalar>* active_tokens() {
    return token_rows_ && adapters_enabled_ ? &*token_rows_ : nullptr;
  }
  // Activation layouts reserve adapter space whenever adapters exist, on or off.
  int lora_rank_active() const { return lora_ ? lora_->config().rank : 0; }
  // Does projection t of every block run through its adapter now?
  bool adapted(int t) const { return lora_ && adapters_enabled_ && lora_->has(t); }
  const Adapters& adapters() const { return *lora_; }

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }

  void adopt_adapters() {
    base_trainable_ = false;
    adapters_enabled_ = true;
    derived().relayout();
  }

  bool base_trainable_ = true;
  bool adapters_enabled_ = true;
  std::optional<Adapters> lora_;
  std::optional<TrainableTokens<Scalar>> token_rows_;
};

}  // namespace gfnlm
