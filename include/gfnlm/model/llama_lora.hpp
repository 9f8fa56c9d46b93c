#pragma once
// LoRA adapters for the seven projections of a Llama block (wq, wk, wv, wo, w1, w2, w3), the
// scheme of lora_adapters.hpp. LoraConfig.targets selects projections through
// llama::lora_targets().
#include <gfnlm/model/llama_layout.hpp>
#include <gfnlm/model/lora_adapters.hpp>

#include <fmt/format.h>

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace gfnlm {

struct LlamaLoraLayout {
  using Config = LlamaConfig;
  static constexpr int kNumProj = llama::kNumProj;
  static constexpr uint32_t kMagic = 0x414c4c4c;  // "LLLA"
  static constexpr const char* kStream = "llama_lora";
  static std::array<int, 2> dims(const Config& c, int t) { return llama::proj_dims(c, t); }
  static bool targeted(uint32_t targets, int t) { return llama::lora_targets(targets, t); }
  // "model.layers.3.self_attn.q_proj" (PEFT's naming, less its prefix)
  static std::string name(int layer, int t) {
    return fmt::format("model.layers.{}.{}", layer, llama::proj_name(t));
  }
  static std::vector<std::pair<const char*, int>> shape(const Config& c) {
    return {{"n_layer", c.n_layer},
            {"d_model", c.d_model},
            {"n_kv_head", c.n_kv_head},
            {"d_ff", c.d_ff}};
  }
};

template <class Bk, class S>
using LlamaLoraAdapters = BasicLoraAdapters<Bk, S, LlamaLoraLayout>;

}  // namespace gfnlm
