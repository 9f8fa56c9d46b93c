#pragma once
// The shape of a Llama-family decoder and where each of its tensors lives: parameters in one
// arena, activations in another, addressed through structs of pointers (as gpt2_layout.hpp).
// Matrices are row-major [out, in] (torch.nn.Linear); names follow Hugging Face Llama
// ("model.layers.0.self_attn.q_proj.weight") so a safetensors importer can match them.
#include <gfnlm/core/error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace gfnlm {

struct LlamaConfig {
  int vocab_size = 512;
  int max_seq_len = 128;
  int n_layer = 4;
  int n_head = 4;
  int n_kv_head = 4;  // grouped-query attention when < n_head
  int d_model = 64;
  int d_ff = 172;          // hidden width of the SwiGLU MLP
  bool tied_head = true;   // output head shares the token embedding
  double norm_eps = 1e-5;  // RMSNorm
  double rope_theta = 10000.0;
  double init_std = 0.02;

  int head_size() const { return d_model / n_head; }
  int kv_dim() const { return head_size() * n_kv_head; }

  void validate() const {
    GFNLM_CHECK(vocab_size > 0, "LlamaConfig.vocab_size = {} must be positive", vocab_size);
    GFNLM_CHECK(max_seq_len > 0, "LlamaConfig.max_seq_len = {} must be positive", max_seq_len);
    GFNLM_CHECK(n_layer > 0, "LlamaConfig.n_layer = {} must be positive", n_layer);
    GFNLM_CHECK(d_ff > 0, "LlamaConfig.d_ff = {} must be positive", d_ff);
    GFNLM_CHECK(n_head > 0 && d_model > 0 && d_model % n_head == 0,
                "LlamaConfig.d_model = {} must be a positive multiple of n_head = {}", d_model,
                n_head);
    GFNLM_CHECK(head_size() % 2 == 0, "LlamaConfig head size {} must be even (RoPE pairs)",
                head_size());
    GFNLM_CHECK(n_kv_head > 0 && n_head % n_kv_head == 0,
                "LlamaConfig.n_kv_head = {} must divide n_head = {}", n_kv_head, n_head);
    GFNLM_CHECK(norm_eps > 0 && rope_theta > 0, "LlamaConfig norm_eps = {}, rope_theta = {}",
                norm_eps, rope_theta);
  }

  bool same_shape(const LlamaConfig& o) const {
    return vocab_size == o.vocab_size && max_seq_len == o.max_seq_len && n_layer == o.n_layer &&
           n_head == o.n_head && n_kv_head == o.n_kv_head && d_model == o.d_model &&
           d_ff == o.d_ff && tied_head == o.tied_head;
  }
};

namespace llama {

// The seven projections of a block, in this order everywhere (LoRA slots, Linear lookup).
enum Proj { wq = 0, wk, wv, wo, w1, w2, w3 };
inline constexpr int kNumProj = 7;

inline const char* proj_name(int t) {
  static constexpr const char* names[] = {
      "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
      "mlp.gate_proj",    "mlp.down_proj",    "mlp.up_proj"};
  return names[t];
}

// (in, out) features of projection t.
inline std::array<int, 2> proj_dims(const LlamaConfig& c, int t) {
  const int C = c.d_model, KV = c.kv_dim(), H = c.d_ff;
  static constexpr int kIn[] = {0, 0, 0, 0, 0, 2, 0};  // 0 = C, 2 = H
  const int in = kIn[t] == 2 ? H : C;
  const int out = (t == wk || t == wv) ? KV : (t == w1 || t == w3) ? H : C;
  return {in, out};
}

// LoraConfig.targets keeps GPT-2's four bits (config.hpp) so one LoraConfig serves both models:
// qkv -> wq, wk, wv; attn_proj -> wo; fc -> w1 (gate) and w3 (up); fc_proj -> w2 (down).
inline bool lora_targets(uint32_t targets, int t) {
  static constexpr int kBit[] = {0, 0, 0, 1, 2, 3, 2};
  return (targets >> kBit[t]) & 1u;
}

template <class S>
struct ParamTensors {
  S* embed;        // [V, C]
  S* attn_norm;    // [L, C]
  S* w[kNumProj];  // [L, out, in] per projection
  S* ffn_norm;     // [L, C]
  S* norm;         // [C]
  S* lm_head;      // [V, C]; equals embed when tied
};

struct ParamSpec {
  const char* name;  // {} = layer
  std::size_t size;  // per layer
  int layers;
  int slot;  // -1 embed, -2 attn_norm, -3 ffn_norm, -4 norm, -5 lm_head, else projection
  bool weight_decay;
};

inline std::vector<ParamSpec> param_specs(const LlamaConfig& c) {
  const std::size_t V = c.vocab_size, C = c.d_model;
  const int L = c.n_layer;
  std::vector<ParamSpec> specs = {{"model.embed_tokens.weight", V * C, 1, -1, true},
                                  {"model.layers.{}.input_layernorm.weight", C, L, -2, false}};
  static constexpr const char* names[] = {
      "model.layers.{}.self_attn.q_proj.weight", "model.layers.{}.self_attn.k_proj.weight",
      "model.layers.{}.self_attn.v_proj.weight", "model.layers.{}.self_attn.o_proj.weight",
      "model.layers.{}.mlp.gate_proj.weight",    "model.layers.{}.mlp.down_proj.weight",
      "model.layers.{}.mlp.up_proj.weight"};
  for (int t = 0; t < kNumProj; ++t) {
    const auto [in, out] = proj_dims(c, t);
    specs.push_back({names[t], static_cast<std::size_t>(in) * out, L, t, true});
  }
  specs.push_back({"model.layers.{}.post_attention_layernorm.weight", C, L, -3, false});
  specs.push_back({"model.norm.weight", C, 1, -4, false});
  if (!c.tied_head) specs.push_back({"lm_head.weight", V * C, 1, -5, true});
  return specs;
}

template <class S>
S*& member(ParamTensors<S>& p, int slot) {
  switch (slot) {
    case -1:
      return p.embed;
    case -2:
      return p.attn_norm;
    case -3:
      return p.ffn_norm;
    case -4:
      return p.norm;
    case -5:
      return p.lm_head;
    default:
      return p.w[slot];
  }
}

inline std::size_t param_count(const LlamaConfig& c) {
  std::size_t n = 0;
  for (const auto& s : param_specs(c)) n += s.size * s.layers;
  return n;
}

template <class S>
void point_params(ParamTensors<S>& p, S* base, const LlamaConfig& c) {
  std::size_t offset = 0;
  for (const auto& s : param_specs(c)) {
    member(p, s.slot) = base + offset;
    offset += s.size * s.layers;
  }
  if (c.tied_head) p.lm_head = p.embed;
}

// Activations of forward(B, T) that backward reads, then backward's scratch.
template <class S>
struct ActTensors {
  S* encoded;      // [N,C]  (N = B T)
  S *xn1, *rstd1;  // [L,N,C], [L,N]
  S *q, *k, *v;    // [L,N,C], [L,N,KV], [L,N,KV]  (q, k after RoPE)
  S* att;          // [L,B,NH,T,T]
  S *atty, *res2;  // [L,N,C]
  S *xn2, *rstd2;  // [L,N,C], [L,N]
  S *h1, *h3, *g;  // [L,N,H]  gate, up, silu(gate) * up
  S* res3;         // [L,N,C]
  S *xnf, *rstdf;  // [N,C], [N]
  S* logits;       // [N,V]
  S* lora_u;       // [L,7,N,r]
  // dlogits [N,V] is not in this arena: the model allocates it at the first backward.
  S *proj, *dlogits, *dx, *dln, *dq, *dk, *dv, *datty, *datt, *dh1, *dh3, *dg, *du, *logp, *lse;
};

template <class S>
std::size_t point_acts(ActTensors<S>& a, S* base, const LlamaConfig& c, int B, int T, int r) {
  const std::size_t N = static_cast<std::size_t>(B) * T, C = c.d_model, L = c.n_layer,
                    V = c.vocab_size, KV = c.kv_dim(), H = c.d_ff,
                    att = static_cast<std::size_t>(B) * c.n_head * T * T;
  std::size_t offset = 0;
  auto take = [&](S*& m, std::size_t n) {
    m = base ? base + offset : nullptr;
    offset += n;
  };
  take(a.encoded, N * C);
  take(a.xn1, L * N * C);
  take(a.rstd1, L * N);
  take(a.q, L * N * C);
  take(a.k, L * N * KV);
  take(a.v, L * N * KV);
  take(a.att, L * att);
  take(a.atty, L * N * C);
  take(a.res2, L * N * C);
  take(a.xn2, L * N * C);
  take(a.rstd2, L * N);
  take(a.h1, L * N * H);
  take(a.h3, L * N * H);
  take(a.g, L * N * H);
  take(a.res3, L * N * C);
  take(a.xnf, N * C);
  take(a.rstdf, N);
  take(a.logits, N * V);
  take(a.lora_u, L * kNumProj * N * r);
  take(a.proj, N * C);
  take(a.dx, N * C);
  take(a.dln, N * C);
  take(a.dq, N * C);
  take(a.dk, N * KV);
  take(a.dv, N * KV);
  take(a.datty, N * C);
  take(a.datt, att);
  take(a.dh1, N * H);
  take(a.dh3, N * H);
  take(a.dg, N * H);
  take(a.du, N * r);
  take(a.logp, N);
  take(a.lse, N);
  return offset;
}

// The tables above as model/decoder_arenas.hpp takes them (point_params and point_acts by ADL).
template <class S>
struct Layout {
  using Config = LlamaConfig;
  using Params = ParamTensors<S>;
  using Acts = ActTensors<S>;
  static std::size_t param_count(const Config& c) { return llama::param_count(c); }
};

}  // namespace llama
}  // namespace gfnlm
