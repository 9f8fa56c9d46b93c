#pragma once
// LoRA adapters for the seven projections of a Llama block (wq, wk, wv, wo, w1, w2, w3), the
// same scheme as lora.hpp for GPT-2: y = x W^T + (alpha / r) (x A^T) B^T, A [r, in] drawn
// U(-1/sqrt(in), 1/sqrt(in)) as PEFT does, B [out, r] zero so the adapted model starts equal to
// the base. LoraConfig.targets selects projections through llama::lora_targets().
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/model/config.hpp>
#include <gfnlm/model/llama_layout.hpp>
#include <gfnlm/model/parameter.hpp>

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <istream>
#include <ostream>
#include <vector>

namespace gfnlm {

template <class Bk, class S>
class LlamaLoraAdapters {
 public:
  struct Slot {
    S *a, *b, *ga, *gb;  // A [r, in], B [out, r] and their gradients
    int in, out;
  };

  LlamaLoraAdapters(const LlamaConfig& model, const LoraConfig& lora) : model_(model), cfg_(lora) {
    cfg_.validate();
    std::size_t offset = 0;
    for (int t = 0; t < llama::kNumProj; ++t) {
      offset_[t] = offset;
      if (!has(t)) continue;
      const auto [in, out] = llama::proj_dims(model_, t);
      offset += static_cast<std::size_t>(model_.n_layer) * cfg_.rank * (in + out);
    }
    size_ = offset;
    values_ = Bk::template alloc<S>(size_);
    grads_ = Bk::template alloc<S>(size_);
  }

  void init(Rng& rng) {
    std::vector<S> host(size_, S(0));
    for (int t = 0; t < llama::kNumProj; ++t) {
      if (!has(t)) continue;
      const auto [in, out] = llama::proj_dims(model_, t);
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      for (int l = 0; l < model_.n_layer; ++l)
        for (std::size_t i = 0; i < static_cast<std::size_t>(cfg_.rank) * in; ++i)
          host[local(l, t) + i] = static_cast<S>(rng.uniform(-bound, bound));
    }
    Bk::from_host(Bk::data(values_), host.data(), size_);
    Bk::fill(Bk::data(grads_), size_, S(0));
  }

  const LoraConfig& config() const { return cfg_; }
  bool has(int t) const { return llama::lora_targets(cfg_.targets, t); }
  S scale() const { return static_cast<S>(cfg_.scale()); }

  Slot slot(int layer, int t) const {
    const auto [in, out] = llama::proj_dims(model_, t);
    const std::size_t a = local(layer, t), b = a + static_cast<std::size_t>(cfg_.rank) * in;
    S* v = Bk::data(values_);
    S* g = Bk::data(grads_);
    return {v + a, v + b, g + a, g + b, in, out};
  }

  // "model.layers.3.self_attn.q_proj.lora_A" (PEFT's naming, less its prefix); no weight decay.
  ParameterList<S> parameters() {
    ParameterList<S> list;
    for (int l = 0; l < model_.n_layer; ++l)
      for (int t = 0; t < llama::kNumProj; ++t) {
        if (!has(t)) continue;
        const Slot s = slot(l, t);
        const std::size_t r = cfg_.rank;
        const auto stem = fmt::format("model.layers.{}.{}", l, llama::proj_name(t));
        list.push_back({stem + ".lora_A", s.a, s.ga, r * s.in, false});
        list.push_back({stem + ".lora_B", s.b, s.gb, r * s.out, false});
      }
    return list;
  }

  void zero_grad() { Bk::fill(Bk::data(grads_), size_, S(0)); }

  void save(std::ostream& os) const {
    write_pod<uint32_t>(os, kMagic);
    write_pod<int32_t>(os, cfg_.rank);
    write_pod<double>(os, cfg_.alpha);
    write_pod<uint32_t>(os, cfg_.targets);
    for (const int v : {model_.n_layer, model_.d_model, model_.n_kv_head, model_.d_ff})
      write_pod<int32_t>(os, v);
    std::vector<S> host(size_);
    Bk::to_host(host.data(), Bk::data(values_), size_);
    write_array(os, host.data(), size_);
  }

  // Reads the header written by save() and checks it against the model it will adapt.
  static LoraConfig read_header(std::istream& is, const LlamaConfig& model) {
    GFNLM_CHECK(read_pod<uint32_t>(is, "llama_lora.magic") == kMagic,
                "not a gfnlm Llama LoRA adapter stream (bad magic)");
    LoraConfig c;
    c.rank = read_pod<int32_t>(is, "llama_lora.rank");
    c.alpha = read_pod<double>(is, "llama_lora.alpha");
    c.targets = read_pod<uint32_t>(is, "llama_lora.targets");
    c.validate();
    int32_t dims[4];
    const char* names[] = {"n_layer", "d_model", "n_kv_head", "d_ff"};
    const int want[] = {model.n_layer, model.d_model, model.n_kv_head, model.d_ff};
    for (int i = 0; i < 4; ++i) {
      dims[i] = read_pod<int32_t>(is, names[i]);
      GFNLM_CHECK(dims[i] == want[i], "Llama LoRA adapters are for {} = {}, the model has {}",
                  names[i], dims[i], want[i]);
    }
    return c;
  }
  void read_values(std::istream& is) {
    std::vector<S> host(size_);
    read_array(is, host.data(), size_, "llama_lora.values");
    Bk::from_host(Bk::data(values_), host.data(), size_);
  }

 private:
  static constexpr uint32_t kMagic = 0x414c4c4c;  // "LLLA"

  std::size_t local(int layer, int t) const {
    const auto [in, out] = llama::proj_dims(model_, t);
    return offset_[t] + static_cast<std::size_t>(layer) * cfg_.rank * (in + out);
  }

  LlamaConfig model_;
  LoraConfig cfg_;
  std::array<std::size_t, llama::kNumProj> offset_{};
  std::size_t size_ = 0;
  mutable typename Bk::template Buffer<S> values_, grads_;
};

}  // namespace gfnlm
