#pragma once
// LoRA adapters (Hu et al. 2021) for the projections of every block, for any architecture: a
// projection y = x W^T + b becomes y + (alpha / r) (x A^T) B^T with A [r, in], B [out, r]. B
// starts at zero so the adapted model equals the base at init; A is drawn as PEFT does
// (kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(in), 1/sqrt(in))). Values and gradients
// live in one arena each.
//
// The architecture enters through a Layout (lora.hpp: GPT-2, llama_lora.hpp: Llama):
//   using Config;                          the model's config
//   static constexpr int kNumProj;         adaptable projections per block
//   static constexpr uint32_t kMagic;      first word of a saved adapter stream
//   static constexpr const char* kStream;  prefix of the stream's field names in errors
//   static std::array<int, 2> dims(const Config&, int t);   (in, out) of projection t
//   static bool targeted(uint32_t targets, int t);          LoraConfig.targets selects t?
//   static std::string name(int layer, int t);              parameter-name stem
//   static std::vector<std::pair<const char*, int>> shape(const Config&);  saved and checked
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

template <class Bk, class S, class Layout>
class BasicLoraAdapters {
 public:
  using Config = typename Layout::Config;
  using Backend = Bk;

  struct Slot {
    S* a;   // [r, in]
    S* b;   // [out, r]
    S* ga;  // gradients, same shapes
    S* gb;
    int in, out;
  };

  BasicLoraAdapters(const Config& model, const LoraConfig& lora) : model_(model), cfg_(lora) {
    cfg_.validate();
    std::size_t offset = 0;
    for (int t = 0; t < Layout::kNumProj; ++t) {
      offset_[t] = offset;
      if (!has(t)) continue;
      const auto [in, out] = Layout::dims(model_, t);
      offset += static_cast<std::size_t>(model_.n_layer) * cfg_.rank * (in + out);
    }
    size_ = offset;
    values_ = Bk::template alloc<S>(size_);
    grads_ = Bk::template alloc<S>(size_);
  }

  // A uniform in +-1/sqrt(in), B zero.
  void init(Rng& rng) {
    std::vector<S> host(size_, S(0));
    for (int t = 0; t < Layout::kNumProj; ++t) {
      if (!has(t)) continue;
      const auto [in, out] = Layout::dims(model_, t);
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
  bool has(int t) const { return Layout::targeted(cfg_.targets, t); }
  S scale() const { return static_cast<S>(cfg_.scale()); }
  std::size_t size() const { return size_; }

  // Pointers into the arenas (const: decoding reads them from a const model).
  Slot slot(int layer, int t) const {
    const auto [in, out] = Layout::dims(model_, t);
    const std::size_t a = local(layer, t), b = a + static_cast<std::size_t>(cfg_.rank) * in;
    S* v = Bk::data(values_);
    S* g = Bk::data(grads_);
    return {v + a, v + b, g + a, g + b, in, out};
  }

  // Views named after the projection they adapt ("<stem>.lora_A"); no weight decay.
  ParameterList<S> parameters() {
    ParameterList<S> list;
    for (int l = 0; l < model_.n_layer; ++l)
      for (int t = 0; t < Layout::kNumProj; ++t) {
        if (!has(t)) continue;
        const Slot s = slot(l, t);
        const std::size_t r = cfg_.rank;
        const std::string stem = Layout::name(l, t);
        list.push_back({stem + ".lora_A", s.a, s.ga, r * s.in, false});
        list.push_back({stem + ".lora_B", s.b, s.gb, r * s.out, false});
      }
    return list;
  }

  void zero_grad() { Bk::fill(Bk::data(grads_), size_, S(0)); }

  void save(std::ostream& os) const {
    write_pod<uint32_t>(os, Layout::kMagic);
    write_pod<int32_t>(os, cfg_.rank);
    write_pod<double>(os, cfg_.alpha);
    write_pod<uint32_t>(os, cfg_.targets);
    for (const auto& [name, value] : Layout::shape(model_)) write_pod<int32_t>(os, value);
    std::vector<S> host(size_);
    Bk::to_host(host.data(), Bk::data(values_), size_);
    write_array(os, host.data(), size_);
  }

  // Reads the header written by save() and checks it against the model it will adapt.
  static LoraConfig read_header(std::istream& is, const Config& model) {
    const auto field = [](const char* name) { return fmt::format("{}.{}", Layout::kStream, name); };
    GFNLM_CHECK(read_pod<uint32_t>(is, field("magic").c_str()) == Layout::kMagic,
                "not a gfnlm {} adapter stream (bad magic)", Layout::kStream);
    LoraConfig c;
    c.rank = read_pod<int32_t>(is, field("rank").c_str());
    c.alpha = read_pod<double>(is, field("alpha").c_str());
    c.targets = read_pod<uint32_t>(is, field("targets").c_str());
    c.validate();
    for (const auto& [name, want] : Layout::shape(model)) {
      const auto got = read_pod<int32_t>(is, field(name).c_str());
      GFNLM_CHECK(got == want, "{} adapters are for {} = {}, the model has {}", Layout::kStream,
                  name, got, want);
    }
    return c;
  }
  void read_values(std::istream& is) {
    std::vector<S> host(size_);
    read_array(is, host.data(), size_, fmt::format("{}.values", Layout::kStream).c_str());
    Bk::from_host(Bk::data(values_), host.data(), size_);
  }

 private:
  std::size_t local(int layer, int t) const {
    const auto [in, out] = Layout::dims(model_, t);
    return offset_[t] + static_cast<std::size_t>(layer) * cfg_.rank * (in + out);
  }

  Config model_;
  LoraConfig cfg_;
  std::array<std::size_t, Layout::kNumProj> offset_{};
  std::size_t size_ = 0;
  mutable typename Bk::template Buffer<S> values_, grads_;
};

}  // namespace gfnlm
