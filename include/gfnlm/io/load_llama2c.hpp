#pragma once
// Builds a LlamaTransformer from a llama2.c checkpoint parsed by io/llama2c.hpp (issue 4,
// "llama2.c checkpoints"): the header becomes a LlamaConfig (llama2.c's fixed RoPE theta and
// RMSNorm eps come with it), Meta's tensor names map to ours (Hugging Face Llama names), and
// every tensor's shape is checked against the config before it is copied, so a checkpoint that
// disagrees with its own header fails with the file, tensor and both shapes named; a NaN or inf
// weight fails naming the file, tensor and index (core/finite.hpp).
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/finite.hpp>
#include <gfnlm/io/llama2c.hpp>
#include <gfnlm/model/llama.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace gfnlm {

inline LlamaConfig llama_config_from(const Llama2cConfig& c) {
  LlamaConfig m;
  m.vocab_size = c.vocab_size;
  m.max_seq_len = c.seq_len;
  m.n_layer = c.n_layers;
  m.n_head = c.n_heads;
  m.n_kv_head = c.n_kv_heads;
  m.d_model = c.dim;
  m.d_ff = c.hidden_dim;
  m.tied_head = c.shared_classifier;
  m.norm_eps = c.norm_eps;
  m.rope_theta = c.rope_theta;
  return m;
}

// Our tensor name for a llama2.c (Meta) one; empty if there is none.
inline std::string llama_name_from_meta(const std::string& meta) {
  static const std::pair<const char*, const char*> kLayer[] = {
      {"attention_norm.weight", "input_layernorm.weight"},
      {"attention.wq.weight", "self_attn.q_proj.weight"},
      {"attention.wk.weight", "self_attn.k_proj.weight"},
      {"attention.wv.weight", "self_attn.v_proj.weight"},
      {"attention.wo.weight", "self_attn.o_proj.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"feed_forward.w1.weight", "mlp.gate_proj.weight"},
      {"feed_forward.w2.weight", "mlp.down_proj.weight"},
      {"feed_forward.w3.weight", "mlp.up_proj.weight"}};
  if (meta == "tok_embeddings.weight") return "model.embed_tokens.weight";
  if (meta == "norm.weight") return "model.norm.weight";
  if (meta == "output.weight") return "lm_head.weight";
  if (meta.rfind("layers.", 0) != 0) return {};
  const auto dot = meta.find('.', 7);
  if (dot == std::string::npos) return {};
  const std::string layer = meta.substr(7, dot - 7), rest = meta.substr(dot + 1);
  for (const auto& [from, to] : kLayer)
    if (rest == from) return fmt::format("model.layers.{}.{}", layer, to);
  return {};
}

namespace detail {

// Expected [rows, cols] (or [n]) of our tensor `name` in a model of config `c`.
inline std::vector<int64_t> llama_expected_shape(const LlamaConfig& c, const std::string& name) {
  const int64_t V = c.vocab_size, C = c.d_model;
  if (name == "model.embed_tokens.weight" || name == "lm_head.weight") return {V, C};
  if (name == "model.norm.weight" || name.ends_with("layernorm.weight")) return {C};
  for (int t = 0; t < llama::kNumProj; ++t)
    if (name.ends_with(std::string(llama::proj_name(t)) + ".weight")) {
      const auto [in, out] = llama::proj_dims(c, t);
      return {out, in};
    }
  return {};
}

}  // namespace detail

// `source` names the file in errors.
template <class Bk = Cpu, class Scalar = float>
LlamaTransformer<Bk, Scalar> llama_from_llama2c(const Llama2cCheckpoint& ckpt,
                                                const std::string& source) {
  const LlamaConfig cfg = llama_config_from(ckpt.config);
  try {
    cfg.validate();
  } catch (const Error& e) {
    throw FormatError(fmt::format("'{}': header gives an unusable model: {}", source, e.what()));
  }
  LlamaTransformer<Bk, Scalar> model(cfg);
  std::set<std::string> loaded;
  std::vector<Scalar> buffer;
  for (const auto& [meta, values] : ckpt.tensors) {
    const std::string name = llama_name_from_meta(meta);
    if (name.empty()) throw FormatError(fmt::format("'{}': unexpected tensor '{}'", source, meta));
    const auto want = detail::llama_expected_shape(cfg, name);
    const auto it = ckpt.shapes.find(meta);
    const std::vector<int64_t> have = it == ckpt.shapes.end() ? std::vector<int64_t>{} : it->second;
    int64_t numel = 1;
    for (const auto d : want) numel *= d;
    if (have != want || static_cast<int64_t>(values.size()) != numel)
      throw FormatError(fmt::format(
          "'{}': tensor '{}' has shape [{}] ({} values); the config (dim {}, hidden_dim {}, "
          "n_kv_heads {}, vocab_size {}) needs [{}]",
          source, meta, fmt::join(have, ", "), values.size(), cfg.d_model, cfg.d_ff, cfg.n_kv_head,
          cfg.vocab_size, fmt::join(want, ", ")));
    require_finite(values.data(), values.size(), source, meta);
    buffer.assign(values.begin(), values.end());
    model.load_tensor(name, std::span<const Scalar>(buffer));
    loaded.insert(name);
  }
  for (const auto& p : model.base_parameters())
    if (!loaded.count(p.name))
      throw FormatError(fmt::format("'{}': no tensor for '{}'", source, p.name));
  return model;
}

template <class Bk = Cpu, class Scalar = float>
LlamaTransformer<Bk, Scalar> load_llama2c(const std::filesystem::path& path) {
  return llama_from_llama2c<Bk, Scalar>(read_llama2c_checkpoint(path), path.string());
}

}  // namespace gfnlm
