#pragma once
// Where every tensor of a GPT-2 model lives: parameters in one arena and activations in another,
// addressed through structs of pointers (llm.c's layout). Shapes follow PyTorch nn.Linear:
// weights row-major [out, in]. Names follow Hugging Face GPT-2 (whose Conv1D stores [in, out]:
// an importer transposes).
#include <gfnlm/model/config.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace gfnlm::gpt2 {

template <class S>
struct ParamTensors {
  S* wte;       // [V, C]
  S* wpe;       // [maxT, C]
  S* ln1w;      // [L, C]
  S* ln1b;      // [L, C]
  S* qkvw;      // [L, 3C, C]
  S* qkvb;      // [L, 3C]
  S* attprojw;  // [L, C, C]
  S* attprojb;  // [L, C]
  S* ln2w;      // [L, C]
  S* ln2b;      // [L, C]
  S* fcw;       // [L, 4C, C]
  S* fcb;       // [L, 4C]
  S* fcprojw;   // [L, C, 4C]
  S* fcprojb;   // [L, C]
  S* lnfw;      // [C]
  S* lnfb;      // [C]
  S* lm_head;   // [V, C]; equals wte when the head is tied
};

// One parameter tensor: its name pattern ({} = layer), size per layer, layers (1 or L), the
// member it sets, whether AdamW decays it, and how init draws it.
enum class Init { normal, residual_normal, zeros, ones };

template <class S>
struct ParamSpec {
  const char* name;
  std::size_t size;  // per layer
  int layers;
  S* ParamTensors<S>::*member;
  bool weight_decay;
  Init init;
};

template <class S>
std::vector<ParamSpec<S>> param_specs(const TransformerConfig& c) {
  using P = ParamTensors<S>;
  const std::size_t V = c.vocab_size, T = c.max_seq_len, C = c.d_model;
  const int L = c.n_layer;
  std::vector<ParamSpec<S>> specs = {
      {"wte.weight", V * C, 1, &P::wte, true, Init::normal},
      {"wpe.weight", T * C, 1, &P::wpe, true, Init::normal},
      {"h.{}.ln_1.weight", C, L, &P::ln1w, false, Init::ones},
      {"h.{}.ln_1.bias", C, L, &P::ln1b, false, Init::zeros},
      {"h.{}.attn.c_attn.weight", 3 * C * C, L, &P::qkvw, true, Init::normal},
      {"h.{}.attn.c_attn.bias", 3 * C, L, &P::qkvb, false, Init::zeros},
      {"h.{}.attn.c_proj.weight", C * C, L, &P::attprojw, true, Init::residual_normal},
      {"h.{}.attn.c_proj.bias", C, L, &P::attprojb, false, Init::zeros},
      {"h.{}.ln_2.weight", C, L, &P::ln2w, false, Init::ones},
      {"h.{}.ln_2.bias", C, L, &P::ln2b, false, Init::zeros},
      {"h.{}.mlp.c_fc.weight", 4 * C * C, L, &P::fcw, true, Init::normal},
      {"h.{}.mlp.c_fc.bias", 4 * C, L, &P::fcb, false, Init::zeros},
      {"h.{}.mlp.c_proj.weight", 4 * C * C, L, &P::fcprojw, true, Init::residual_normal},
      {"h.{}.mlp.c_proj.bias", C, L, &P::fcprojb, false, Init::zeros},
      {"ln_f.weight", C, 1, &P::lnfw, false, Init::ones},
      {"ln_f.bias", C, 1, &P::lnfb, false, Init::zeros},
  };
  if (!c.tied_head) specs.push_back({"lm_head.weight", V * C, 1, &P::lm_head, true, Init::normal});
  return specs;
}

template <class S>
std::size_t param_count(const TransformerConfig& c) {
  std::size_t n = 0;
  for (const auto& s : param_specs<S>(c)) n += s.size * s.layers;
  return n;
}

// Points every member into one arena; returns the size used.
template <class S>
std::size_t point_params(ParamTensors<S>& p, S* base, const TransformerConfig& c) {
  std::size_t offset = 0;
  for (const auto& s : param_specs<S>(c)) {
    p.*(s.member) = base ? base + offset : nullptr;
    offset += s.size * s.layers;
  }
  if (c.tied_head) p.lm_head = p.wte;
  return offset;
}

// Activations of forward(B, T) that backward reads, plus backward's per-layer scratch.
template <class S>
struct ActTensors {
  S* encoded;    // [B,T,C]
  S* ln1;        // [L,B,T,C]
  S* ln1_mean;   // [L,B,T]
  S* ln1_rstd;   // [L,B,T]
  S* qkv;        // [L,B,T,3C]
  S* atty;       // [L,B,T,C]
  S* att;        // [L,B,NH,T,T]
  S* residual2;  // [L,B,T,C]
  S* ln2;        // [L,B,T,C]
  S* ln2_mean;   // [L,B,T]
  S* ln2_rstd;   // [L,B,T]
  S* fch;        // [L,B,T,4C]
  S* fch_gelu;   // [L,B,T,4C]
  S* residual3;  // [L,B,T,C]
  S* lnf;        // [B,T,C]
  S* lnf_mean;   // [B,T]
  S* lnf_rstd;   // [B,T]
  S* logits;     // [B,T,V]
  S* lora_u;     // [L,4,B,T,r]  inp @ A^T of each adapted projection
  // scratch
  S* proj;     // [B,T,C]   projection output before the residual add
  S* dlogits;  // [B,T,V]  not in this arena: the model allocates it at the first backward
  S* dx;       // [B,T,C]   gradient of the residual stream
  S* dln;      // [B,T,C]
  S* dqkv;     // [B,T,3C]
  S* datty;    // [B,T,C]
  S* datt;     // [B,NH,T,T]
  S* dfch;     // [B,T,4C]
  S* du;       // [B,T,r]
  S* logp;     // [B,T]
  S* lse;      // [B,T]
};

// Points every member into `base` (null: only measure); returns the size needed.
template <class S>
std::size_t point_acts(ActTensors<S>& a, S* base, const TransformerConfig& c, int B, int T,
                       int lora_rank) {
  const std::size_t N = static_cast<std::size_t>(B) * T, C = c.d_model, L = c.n_layer,
                    V = c.vocab_size, NH = c.n_head, r = lora_rank;
  const std::size_t att = static_cast<std::size_t>(B) * NH * T * T;
  std::size_t offset = 0;
  auto take = [&](S*& member, std::size_t n) {
    member = base ? base + offset : nullptr;
    offset += n;
  };
  take(a.encoded, N * C);
  take(a.ln1, L * N * C);
  take(a.ln1_mean, L * N);
  take(a.ln1_rstd, L * N);
  take(a.qkv, L * N * 3 * C);
  take(a.atty, L * N * C);
  take(a.att, L * att);
  take(a.residual2, L * N * C);
  take(a.ln2, L * N * C);
  take(a.ln2_mean, L * N);
  take(a.ln2_rstd, L * N);
  take(a.fch, L * N * 4 * C);
  take(a.fch_gelu, L * N * 4 * C);
  take(a.residual3, L * N * C);
  take(a.lnf, N * C);
  take(a.lnf_mean, N);
  take(a.lnf_rstd, N);
  take(a.logits, N * V);
  take(a.lora_u, L * 4 * N * r);
  take(a.proj, N * C);
  take(a.dx, N * C);
  take(a.dln, N * C);
  take(a.dqkv, N * 3 * C);
  take(a.datty, N * C);
  take(a.datt, att);
  take(a.dfch, N * 4 * C);
  take(a.du, N * r);
  take(a.logp, N);
  take(a.lse, N);
  return offset;
}

// The tables above as model/decoder_arenas.hpp takes them (point_params and point_acts by ADL).
template <class S>
struct Layout {
  using Config = TransformerConfig;
  using Params = ParamTensors<S>;
  using Acts = ActTensors<S>;
  static std::size_t param_count(const Config& c) { return gpt2::param_count<S>(c); }
};

}  // namespace gfnlm::gpt2
