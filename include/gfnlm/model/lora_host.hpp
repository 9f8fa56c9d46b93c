#pragma once
// The part of a model's API that is about its LoRA adapters and which of its parameters train,
// the same for every architecture (Transformer, LlamaTransformer): a CRTP base, so each model
// keeps only its layers. Derived supplies config(), base_parameters() and relayout(), the last
// called when the adapters change shape (activation arenas reserve adapter space).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/model/config.hpp>
#include <gfnlm/model/parameter.hpp>

#include <istream>
#include <optional>
#include <ostream>
#include <utility>

namespace gfnlm {

template <class Derived, class Adapters, class Scalar>
class LoraHost {
 public:
  // The trainable parameters: the base ones if the base is trainable, plus the adapters if any.
  ParameterList<Scalar> parameters() {
    ParameterList<Scalar> list;
    if (base_trainable_) list = derived().base_parameters();
    if (lora_) {
      auto more = lora_->parameters();
      list.insert(list.end(), more.begin(), more.end());
    }
    return list;
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
  }
  // A whole-model load replaces the base: adapters trained on the old one no longer apply.
  void drop_adapters() {
    lora_.reset();
    base_trainable_ = true;
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
};

}  // namespace gfnlm
