#pragma once
// A GPT-2 Transformer's LoRA adapters saved apart from the base in the layout Hugging Face PEFT
// uses (issue 4), through io/peft.hpp:
//   adapter_config.json         peft_type LORA, r, lora_alpha, target_modules, fan_in_fan_out
//   adapter_model.safetensors   base_model.model.transformer.h.N.<module>.lora_A.weight [r, in]
//                               base_model.model.transformer.h.N.<module>.lora_B.weight [out, r]
// <module> is attn.c_attn, attn.c_proj, mlp.c_fc or mlp.c_proj. GPT-2's projections are Conv1D
// (weights stored [in, out]), which PEFT marks fan_in_fan_out = true; that flag only transposes
// the merged delta (B A)^T against the stored base weight. PEFT's lora_A / lora_B are nn.Linear
// on the activations for Conv1D too, so A is [r, in] and B is [out, r] exactly as in
// model/lora.hpp and the values copy over untransposed; the update is scaled by lora_alpha / r
// as ours (rsLoRA, DoRA and adapter biases are rejected). target_modules are written as
// "attn.c_proj" / "mlp.c_proj" rather than "c_proj", which PEFT would match in both places.
// LlamaTransformer's adapters go the same way ("base_model.model.model.layers.N.self_attn.q_proj
// .lora_A.weight", fan_in_fan_out false); as for the base weights (io/llama_safetensors.hpp),
// the rows of q_proj's and k_proj's lora_B are in HF's rotate_half order in the file.
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/io/byte_reader.hpp>
#include <gfnlm/io/llama_safetensors.hpp>
#include <gfnlm/io/peft.hpp>
#include <gfnlm/model/llama.hpp>
#include <gfnlm/model/lora.hpp>
#include <gfnlm/model/transformer.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <filesystem>
#include <map>
#include <string>

namespace gfnlm {

// Writes the model's adapters (it must have some) to `dir` in the PEFT layout.
template <class S>
void save_lora_peft(const std::filesystem::path& dir, const Transformer<Cpu, S>& model,
                    const std::string& base_model_name_or_path = "") {
  GFNLM_CHECK(model.has_lora(), "save_lora_peft('{}'): the model has no LoRA adapters",
              dir.string());
  const LoraConfig& lora = *model.lora_config();
  PeftAdapter adapter;
  auto& c = adapter.config;
  c.base_model_name_or_path = base_model_name_or_path;
  c.r = lora.rank;
  c.lora_alpha = static_cast<float>(lora.alpha);
  c.fan_in_fan_out = true;
  for (int t = 0; t < kNumProj; ++t)
    if ((lora.targets >> t) & 1u) c.target_modules.push_back(proj_name(t));
  // lora_parameters() is non-const only because its views can write; here they are only read.
  const auto params = const_cast<Transformer<Cpu, S>&>(model).lora_parameters();
  for (const auto& p : params) {
    // "h.3.attn.c_attn.lora_A" -> module "transformer.h.3.attn.c_attn", matrix A
    const bool is_a = p.name.ends_with(".lora_A");
    auto& w = adapter.modules["transformer." + p.name.substr(0, p.name.size() - 7)];
    std::vector<float>& dst = is_a ? w.a : w.b;
    dst.assign(p.value, p.value + p.size);
    (is_a ? w.in_features : w.out_features) = static_cast<int64_t>(p.size) / lora.rank;
  }
  write_peft_adapter(dir, adapter);
}

namespace detail {

// "transformer.h.3.attn.c_attn" (or "h.3.attn.c_attn") -> {3, 0}; {-1, -1} if not a GPT-2 module.
inline std::pair<int, int> gpt2_lora_module(std::string_view m) {
  if (m.starts_with("transformer.")) m.remove_prefix(12);
  if (!m.starts_with("h.")) return {-1, -1};
  m.remove_prefix(2);
  int layer = -1;
  const auto [end, ec] = std::from_chars(m.data(), m.data() + m.size(), layer);
  if (ec != std::errc() || end == m.data() || end == m.data() + m.size() || *end != '.')
    return {-1, -1};
  m = std::string_view(end + 1, m.data() + m.size() - end - 1);
  for (int t = 0; t < kNumProj; ++t)
    if (m == proj_name(t)) return {layer, t};
  return {-1, -1};
}

}  // namespace detail

// Replaces the model's adapters with those in `dir` (rank, alpha and targets from the adapter;
// every layer must adapt the same projections, as model/lora.hpp lays them out) and freezes
// the base, as enable_lora() does. Shapes are checked against the model before any copy.
template <class S>
void load_lora_peft(const std::filesystem::path& dir, Transformer<Cpu, S>& model) {
  const PeftAdapter adapter = read_peft_adapter(dir);
  const auto cfg_name = (dir / "adapter_config.json").string();
  const auto weights_name = (dir / "adapter_model.safetensors").string();
  {  // Options io/peft.hpp does not model but which change the update.
    const auto bytes = read_file_bytes(dir / "adapter_config.json", 1u << 24);
    const auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
    for (const char* key : {"use_rslora", "use_dora"})
      if (const auto it = j.find(key);
          it != j.end() && !(it->is_boolean() && !it->get<bool>()) && !it->is_null())
        throw FormatError(fmt::format("'{}': {} = {} is not supported", cfg_name, key, it->dump()));
    if (adapter.config.bias != "none")
      throw FormatError(fmt::format("'{}': bias '{}' is not supported (only \"none\")", cfg_name,
                                    adapter.config.bias));
  }
  const auto& mc = model.config();
  const int L = mc.n_layer;
  std::map<std::pair<int, int>, const LoraWeights*> found;
  uint32_t targets = 0;
  for (const auto& [module, w] : adapter.modules) {
    const auto [layer, t] = detail::gpt2_lora_module(module);
    if (t < 0 || layer >= L)
      throw FormatError(
          fmt::format("'{}': module '{}' is not a projection of this GPT-2 "
                      "(transformer.h.<0..{}>.attn.c_attn|attn.c_proj|mlp.c_fc|"
                      "mlp.c_proj)",
                      weights_name, module, L - 1));
    const auto [in, out] = proj_dims(mc, t);
    if (w.in_features != in || w.out_features != out)
      throw FormatError(
          fmt::format("'{}': module '{}' adapts {} -> {} features, the model's "
                      "projection is {} -> {}",
                      weights_name, module, w.in_features, w.out_features, in, out));
    found[{layer, t}] = &w;
    targets |= 1u << t;
  }
  if (targets == 0) throw FormatError(fmt::format("'{}': holds no LoRA weights", weights_name));
  for (int l = 0; l < L; ++l)
    for (int t = 0; t < kNumProj; ++t)
      if (((targets >> t) & 1u) && !found.count({l, t}))
        throw FormatError(
            fmt::format("'{}': module 'transformer.h.{}.{}' has no adapter, but "
                        "other layers adapt {} (gfnlm needs the same projections in "
                        "every layer)",
                        weights_name, l, proj_name(t), proj_name(t)));
  LoraConfig lora;
  lora.rank = adapter.config.r;
  lora.alpha = adapter.config.lora_alpha;
  lora.targets = targets;
  Rng rng(0);  // enable_lora draws A; every value is overwritten below
  model.enable_lora(lora, rng);
  for (const auto& p : model.lora_parameters()) {
    const bool is_a = p.name.ends_with(".lora_A");
    const auto [layer, t] = detail::gpt2_lora_module(p.name.substr(0, p.name.size() - 7));
    const LoraWeights& w = *found.at({layer, t});
    const auto& src = is_a ? w.a : w.b;
    GFNLM_CHECK(src.size() == p.size, "load_lora_peft: '{}' holds {} values, expected {}", p.name,
                src.size(), p.size);
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = static_cast<S>(src[i]);
  }
}

namespace detail {

// "model.layers.3.self_attn.q_proj" -> {3, wq}; {-1, -1} if not a Llama projection.
inline std::pair<int, int> llama_lora_module(std::string_view m) {
  if (!m.starts_with("model.layers.")) return {-1, -1};
  m.remove_prefix(13);
  int layer = -1;
  const auto [end, ec] = std::from_chars(m.data(), m.data() + m.size(), layer);
  if (ec != std::errc() || end == m.data() || end == m.data() + m.size() || *end != '.')
    return {-1, -1};
  m = std::string_view(end + 1, m.data() + m.size() - end - 1);
  for (int t = 0; t < llama::kNumProj; ++t)
    if (m == llama::proj_name(t)) return {layer, t};
  return {-1, -1};
}

// q/k's B rows between our interleaved RoPE order and HF's (rows = out features, cols = r).
inline void llama_lora_b_order(const LlamaConfig& c, int t, const float* src, float* dst, int r,
                               bool to_hf) {
  const int heads = t == llama::wq ? c.n_head : c.n_kv_head;
  if (to_hf)
    llama_permute_rows(src, heads, c.head_size(), r, dst);
  else
    llama_unpermute_rows(src, heads, c.head_size(), r, dst);
}

}  // namespace detail

template <class S>
void save_lora_peft(const std::filesystem::path& dir, const LlamaTransformer<Cpu, S>& model,
                    const std::string& base_model_name_or_path = "") {
  GFNLM_CHECK(model.has_lora(), "save_lora_peft('{}'): the model has no LoRA adapters",
              dir.string());
  const LoraConfig& lora = *model.lora_config();
  const auto& mc = model.config();
  PeftAdapter adapter;
  auto& c = adapter.config;
  c.base_model_name_or_path = base_model_name_or_path;
  c.r = lora.rank;
  c.lora_alpha = static_cast<float>(lora.alpha);
  c.fan_in_fan_out = false;
  for (int t = 0; t < llama::kNumProj; ++t)
    if (llama::lora_targets(lora.targets, t))
      c.target_modules.push_back(std::string(llama::proj_name(t))
                                     .substr(std::string_view(llama::proj_name(t)).find('.') + 1));
  const auto params = const_cast<LlamaTransformer<Cpu, S>&>(model).lora_parameters();
  for (const auto& p : params) {
    // "model.layers.3.self_attn.q_proj.lora_B" -> module "model.layers.3.self_attn.q_proj", B
    const bool is_a = p.name.ends_with(".lora_A");
    const auto module = p.name.substr(0, p.name.size() - 7);
    const auto [layer, t] = detail::llama_lora_module(module);
    auto& w = adapter.modules[module];
    std::vector<float>& dst = is_a ? w.a : w.b;
    dst.assign(p.value, p.value + p.size);
    (is_a ? w.in_features : w.out_features) = static_cast<int64_t>(p.size) / lora.rank;
    if (!is_a && (t == llama::wq || t == llama::wk)) {
      const std::vector<float> ours = dst;
      detail::llama_lora_b_order(mc, t, ours.data(), dst.data(), lora.rank, true);
    }
  }
  write_peft_adapter(dir, adapter);
}

// Llama: as for GPT-2, but LoraConfig's four target bits each cover a group of projections
// (model/llama_layout.hpp: q/k/v, o, gate/up, down), so an adapter must adapt whole groups.
template <class S>
void load_lora_peft(const std::filesystem::path& dir, LlamaTransformer<Cpu, S>& model) {
  const PeftAdapter adapter = read_peft_adapter(dir);
  const auto cfg_name = (dir / "adapter_config.json").string();
  const auto weights_name = (dir / "adapter_model.safetensors").string();
  {
    const auto bytes = read_file_bytes(dir / "adapter_config.json", 1u << 24);
    const auto j = nlohmann::json::parse(bytes.begin(), bytes.end());
    for (const char* key : {"use_rslora", "use_dora"})
      if (const auto it = j.find(key);
          it != j.end() && !(it->is_boolean() && !it->get<bool>()) && !it->is_null())
        throw FormatError(fmt::format("'{}': {} = {} is not supported", cfg_name, key, it->dump()));
    if (adapter.config.bias != "none")
      throw FormatError(fmt::format("'{}': bias '{}' is not supported (only \"none\")", cfg_name,
                                    adapter.config.bias));
  }
  const auto& mc = model.config();
  const int L = mc.n_layer;
  std::map<std::pair<int, int>, const LoraWeights*> found;
  uint32_t targets = 0;
  for (const auto& [module, w] : adapter.modules) {
    const auto [layer, t] = detail::llama_lora_module(module);
    if (t < 0 || layer >= L)
      throw FormatError(
          fmt::format("'{}': module '{}' is not a projection of this Llama "
                      "(model.layers.<0..{}>.self_attn.q_proj etc.)",
                      weights_name, module, L - 1));
    const auto [in, out] = llama::proj_dims(mc, t);
    if (w.in_features != in || w.out_features != out)
      throw FormatError(
          fmt::format("'{}': module '{}' adapts {} -> {} features, the model's "
                      "projection is {} -> {}",
                      weights_name, module, w.in_features, w.out_features, in, out));
    found[{layer, t}] = &w;
    for (uint32_t bit = 0; bit < 4; ++bit)
      if (llama::lora_targets(1u << bit, t)) targets |= 1u << bit;
  }
  if (targets == 0) throw FormatError(fmt::format("'{}': holds no LoRA weights", weights_name));
  for (int l = 0; l < L; ++l)
    for (int t = 0; t < llama::kNumProj; ++t)
      if (llama::lora_targets(targets, t) && !found.count({l, t}))
        throw FormatError(fmt::format(
            "'{}': module 'model.layers.{}.{}' has no adapter, but the adapter adapts its group "
            "(gfnlm adapts q/k/v, o, gate/up and down as groups, in every layer)",
            weights_name, l, llama::proj_name(t)));
  LoraConfig lora;
  lora.rank = adapter.config.r;
  lora.alpha = adapter.config.lora_alpha;
  lora.targets = targets;
  Rng rng(0);  // enable_lora draws A; every value is overwritten below
  model.enable_lora(lora, rng);
  std::vector<float> ordered;
  for (const auto& p : model.lora_parameters()) {
    const bool is_a = p.name.ends_with(".lora_A");
    const auto [layer, t] = detail::llama_lora_module(p.name.substr(0, p.name.size() - 7));
    const LoraWeights& w = *found.at({layer, t});
    const std::vector<float>* src = is_a ? &w.a : &w.b;
    GFNLM_CHECK(src->size() == p.size, "load_lora_peft: '{}' holds {} values, expected {}", p.name,
                src->size(), p.size);
    if (!is_a && (t == llama::wq || t == llama::wk)) {
      ordered.resize(p.size);
      detail::llama_lora_b_order(mc, t, src->data(), ordered.data(), lora.rank, false);
      src = &ordered;
    }
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] = static_cast<S>((*src)[i]);
  }
}

}  // namespace gfnlm
