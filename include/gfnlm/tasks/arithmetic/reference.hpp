#pragma once
// PPO's reference policy for the arithmetic task: the frozen base, i.e. the model being tuned with
// its LoRA adapters off, scored exactly like Policy::score (the masks applied by the backend's
// fused log-softmax, tool context read from the batch, which carries the rollout's).
//
// LmPolicy::score switches the adapters on, so a second BasicLmPolicy over the same model cannot
// serve as is. AdaptersOffModel is a view of the model whose forward and decode run with the
// adapters off (the model's own switch restored after each call) and whose set_adapters_enabled
// does nothing; a BasicLmPolicy over the view is the frozen base, sharing the tuned model's
// weights and memory. It exposes no parameters (nothing to train).
#include <gfnlm/core/error.hpp>
#include <gfnlm/gfn/masks.hpp>
#include <gfnlm/gfn/trajectory.hpp>
#include <gfnlm/model/kv_cache.hpp>
#include <gfnlm/model/parameter.hpp>
#include <gfnlm/policies/lm_policy.hpp>
#include <gfnlm/policies/lm_query.hpp>

#include <cstdint>
#include <memory>
#include <span>

namespace gfnlm::arithmetic {

// Model: Transformer or LlamaTransformer (float), as for BasicLmPolicy.
template <class Model>
class AdaptersOffModel {
 public:
  using backend_type = typename Model::backend_type;
  using Cache = typename Model::Cache;

  explicit AdaptersOffModel(Model& model) : model_(&model) {}

  const auto& config() const { return model_->config(); }
  bool adapters_enabled() const { return false; }
  void set_adapters_enabled(bool) {}  // held off

  void forward(const int32_t* tokens, int B, int T) {
    const Off off(*model_);
    model_->forward(tokens, B, T);
  }
  auto logits() const { return model_->logits(); }
  Cache make_cache(int rows) const { return model_->make_cache(rows); }
  auto decode(Cache& cache, std::span<const DecodeToken> tokens) const {
    const Off off(*model_);
    return model_->decode(cache, tokens);
  }
  ParameterList<float> parameters() { return {}; }  // frozen

 private:
  struct Off {
    explicit Off(Model& m) : model(m), was(m.adapters_enabled()) {
      model.set_adapters_enabled(false);
    }
    ~Off() { model.set_adapters_enabled(was); }
    Off(const Off&) = delete;
    Off& operator=(const Off&) = delete;
    Model& model;
    bool was;
  };
  Model* model_;
};

// ref(queries, mask, batch): fills batch.log_pf / batch.log_stop with the frozen base's, like
// Policy::score (PpoTrainer's Ref). Movable; it borrows the model.
template <class Model, PromptedQuery Q>
class FrozenBaseReference {
 public:
  using Policy = BasicLmPolicy<AdaptersOffModel<Model>, Q>;

  FrozenBaseReference(Model& model, int32_t stop_token)
      : view_(std::make_unique<AdaptersOffModel<Model>>(model)),
        policy_(std::make_unique<Policy>(*view_, stop_token)) {}

  void operator()(std::span<const Q> queries, const LogitMask& mask, TrajectoryBatch& batch) {
    policy_->score(queries, mask, batch);
  }

  // The frozen base as a policy (e.g. to sample from it).
  Policy& policy() { return *policy_; }

 private:
  std::unique_ptr<AdaptersOffModel<Model>> view_;  // stable address: the policy points at it
  std::unique_ptr<Policy> policy_;
};

template <PromptedQuery Q, class Model>
FrozenBaseReference<Model, Q> frozen_base_reference(Model& model, int32_t stop_token) {
  return {model, stop_token};
}

}  // namespace gfnlm::arithmetic
