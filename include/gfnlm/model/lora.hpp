#pragma once
// LoRA adapters (Hu et al. 2021) for the four projections of every block: a projection
// y = x W^T + b becomes y + (alpha / r) (x A^T) B^T with A [r, in], B [out, r]. B starts at zero
// so the adapted model equals the base at init; A is drawn as PEFT does (kaiming-uniform with
// a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in))). Values and gradients live in one arena each.
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/model/config.hpp>
#include <gfnlm/model/parameter.hpp>

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <istream>
#include <ostream>
#include <vector>

namespace gfnlm {

// The four adaptable projections in block order (qkv, attn_proj, fc, fc_proj); the LoraTargets
// bit of projection t is 1 << t.
inline constexpr int kNumProj = 4;

// (in, out) features of projection t.
inline std::array<int, 2> proj_dims(const TransformerConfig& c, int t) {
  const int C = c.d_model;
  switch (t) {
    case 0:
      return {C, 3 * C};
    case 1:
      return {C, C};
    case 2:
      return {C, 4 * C};
    default:
      return {4 * C, C};
  }
}

inline const char* proj_name(int t) {
  static constexpr const char* names[] = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};
  return names[t];
}

template <class Bk, class S>
class LoraAdapters {
 public:
  struct Slot {
    S* a;   // [r, in]
    S* b;   // [out, r]
    S* ga;  // gradients, same shapes
    S* gb;
    int in, out;
  };

  LoraAdapters(const TransformerConfig& model, const LoraConfig& lora) : model_(model), cfg_(lora) {
    cfg_.validate();
    std::size_t offset = 0;
    for (int t = 0; t < kNumProj; ++t) {
      offset_[t] = offset;
      if (!has(t)) continue;
      const auto [in, out] = proj_dims(model_, t);
      offset += static_cast<std::size_t>(model_.n_layer) * cfg_.rank * (in + out);
    }
    size_ = offset;
    values_ = Bk::template alloc<S>(size_);
    grads_ = Bk::template alloc<S>(size_);
  }

  // A uniform in +-1/sqrt(in), B zero.
  void init(Rng& rng) {
    std::vector<S> host(size_, S(0));
    for (int t = 0; t < kNumProj; ++t) {
      if (!has(t)) continue;
      const auto [in, out] = proj_dims(model_, t);
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      for (int l = 0; l < model_.n_layer; ++l) {
        const std::size_t a = local(l, t);
        for (std::size_t i = 0; i < static_cast<std::size_t>(cfg_.rank) * in; ++i)
          host[a + i] = static_cast<S>(rng.uniform(-bound, bound));
      }
    }
    Bk::from_host(Bk::data(values_), host.data(), size_);
    Bk::fill(Bk::data(grads_), size_, S(0));
  }

  const LoraConfig& config() const { return cfg_; }
  bool has(int t) const { return (cfg_.targets >> t) & 1u; }
  S scale() const { return static_cast<S>(cfg_.scale()); }
  std::size_t size() const { return size_; }

  // Pointers into the arenas (const: decoding reads them from a const model).
  Slot slot(int layer, int t) const {
    const auto [in, out] = proj_dims(model_, t);
    const std::size_t a = local(layer, t), b = a + static_cast<std::size_t>(cfg_.rank) * in;
    S* v = Bk::data(values_);
    S* g = Bk::data(grads_);
    return {v + a, v + b, g + a, g + b, in, out};
  }

  // Views named after the projection they adapt ("h.3.attn.c_attn.lora_A"); no weight decay.
  ParameterList<S> parameters() {
    ParameterList<S> list;
    for (int l = 0; l < model_.n_layer; ++l)
      for (int t = 0; t < kNumProj; ++t) {
        if (!has(t)) continue;
        const Slot s = slot(l, t);
        const std::size_t na = static_cast<std::size_t>(cfg_.rank) * s.in,
                          nb = static_cast<std::size_t>(cfg_.rank) * s.out;
        list.push_back({fmt::format("h.{}.{}.lora_A", l, proj_name(t)), s.a, s.ga, na, false});
        list.push_back({fmt::format("h.{}.{}.lora_B", l, proj_name(t)), s.b, s.gb, nb, false});
      }
    return list;
  }

  void zero_grad() { Bk::fill(Bk::data(grads_), size_, S(0)); }

  void save(std::ostream& os) const {
    write_pod<uint32_t>(os, kMagic);
    write_pod<int32_t>(os, cfg_.rank);
    write_pod<double>(os, cfg_.alpha);
    write_pod<uint32_t>(os, cfg_.targets);
    write_pod<int32_t>(os, model_.n_layer);
    write_pod<int32_t>(os, model_.d_model);
    std::vector<S> host(size_);
    Bk::to_host(host.data(), Bk::data(values_), size_);
    write_array(os, host.data(), size_);
  }

  // Reads the header written by save() and checks it against the model it will adapt.
  static LoraConfig read_header(std::istream& is, const TransformerConfig& model) {
    GFNLM_CHECK(read_pod<uint32_t>(is, "lora.magic") == kMagic,
                "not a gfnlm LoRA adapter stream (bad magic)");
    LoraConfig c;
    c.rank = read_pod<int32_t>(is, "lora.rank");
    c.alpha = read_pod<double>(is, "lora.alpha");
    c.targets = read_pod<uint32_t>(is, "lora.targets");
    c.validate();
    const auto layers = read_pod<int32_t>(is, "lora.n_layer");
    const auto width = read_pod<int32_t>(is, "lora.d_model");
    GFNLM_CHECK(layers == model.n_layer && width == model.d_model,
                "LoRA adapters are for n_layer={} d_model={}, the model has n_layer={} d_model={}",
                layers, width, model.n_layer, model.d_model);
    return c;
  }
  void read_values(std::istream& is) {
    std::vector<S> host(size_);
    read_array(is, host.data(), size_, "lora.values");
    Bk::from_host(Bk::data(values_), host.data(), size_);
  }

 private:
  static constexpr uint32_t kMagic = 0x41524f4c;  // "LORA"

  std::size_t local(int layer, int t) const {
    const auto [in, out] = proj_dims(model_, t);
    return offset_[t] + static_cast<std::size_t>(layer) * cfg_.rank * (in + out);
  }

  TransformerConfig model_;
  LoraConfig cfg_;
  std::array<std::size_t, kNumProj> offset_{};
  std::size_t size_ = 0;
  mutable typename Bk::template Buffer<S> values_, grads_;
};

}  // namespace gfnlm
