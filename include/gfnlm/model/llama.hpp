#pragma once
// A Llama-family decoder (pre-norm blocks with RMSNorm, rotary position embeddings, grouped-query
// causal attention, SwiGLU MLP, final RMSNorm, head tied to the embedding or not) over a Backend,
// with the public API of Transformer (transformer.hpp) so a policy can be written against either:
// forward / backward from any d logits (the GFlowNet losses, SPEC section 2), cross-entropy,
// KV-cache decode, and LoRA adapters that can be switched off to score with the frozen base
// (SPEC section 1). Runs on any LlamaBackend (backend/concept.hpp): Cpu has the kernels; the
// CUDA backend does not yet.
#include <gfnlm/backend/concept.hpp>
#include <gfnlm/backend/cpu.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/core/finite.hpp>
#include <gfnlm/core/rng.hpp>
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/model/config.hpp>
#include <gfnlm/model/decoder_arenas.hpp>
#include <gfnlm/model/kv_cache.hpp>
#include <gfnlm/model/llama_kv_cache.hpp>
#include <gfnlm/model/llama_layout.hpp>
#include <gfnlm/model/llama_lora.hpp>
#include <gfnlm/model/lora_host.hpp>
#include <gfnlm/model/parameter.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <vector>

namespace gfnlm {

template <class Bk = Cpu, class Scalar = float>
requires LlamaBackend<Bk, Scalar>
class LlamaTransformer
    : public LoraHost<LlamaTransformer<Bk, Scalar>, LlamaLoraAdapters<Bk, Scalar>, Scalar>,
      public DecoderArenas<LlamaTransformer<Bk, Scalar>, Bk, Scalar, llama::Layout<Scalar>> {
  using Host = LoraHost<LlamaTransformer<Bk, Scalar>, LlamaLoraAdapters<Bk, Scalar>, Scalar>;
  using Arenas = DecoderArenas<LlamaTransformer<Bk, Scalar>, Bk, Scalar, llama::Layout<Scalar>>;
  friend Host;
  friend Arenas;
  using Arenas::A_;
  using Arenas::B_;
  using Arenas::cfg_;
  using Arenas::G_;
  using Arenas::P_;
  using Arenas::params_;
  using Arenas::T_;
  using Arenas::tokens_;

 public:
  using backend_type = Bk;
  using scalar_type = Scalar;
  using config_type = LlamaConfig;
  using Cache = LlamaKvCache<Bk, Scalar>;

  // All weights zero and RMSNorm gains one: a shell for a loader (io/load_llama2c.hpp) to fill
  // through load_tensor().
  explicit LlamaTransformer(const LlamaConfig& config) : Arenas(config) {
    init_with([](const llama::ParamSpec&) { return 0.0; });
  }

  // GPT-2-style init: weights N(0, init_std), wo and w2 N(0, init_std / sqrt(2L)), gains 1.
  LlamaTransformer(const LlamaConfig& config, Rng& rng) : LlamaTransformer(config) {
    const double residual_std = cfg_.init_std / std::sqrt(2.0 * cfg_.n_layer);
    init_with([&](const llama::ParamSpec& s) {
      const bool residual = s.slot == llama::wo || s.slot == llama::w2;
      return (residual ? residual_std : cfg_.init_std) * rng.normal();
    });
  }

  // ---- forward / backward -------------------------------------------------------------------

  // tokens: [B, T] row-major host ids in [0, vocab); T <= max_seq_len.
  void forward(const int32_t* tokens, int B, int T) {
    GFNLM_CHECK(B > 0 && T > 0 && T <= cfg_.max_seq_len,
                "forward(B={}, T={}): need B > 0 and 0 < T <= max_seq_len = {}", B, T,
                cfg_.max_seq_len);
    check_tokens(tokens, static_cast<long>(B) * T, "forward");
    prepare(B, T);
    const int N = B * T, C = cfg_.d_model, KV = cfg_.kv_dim(), H = cfg_.d_ff;
    const int NH = cfg_.n_head, NKV = cfg_.n_kv_head, hs = cfg_.head_size();
    const long NC = static_cast<long>(N) * C, NKVl = static_cast<long>(N) * KV,
               NH_ = static_cast<long>(N) * H;
    Bk::from_host(Bk::data(tokens_), tokens, static_cast<std::size_t>(N));
    std::vector<int32_t> pos(N);
    for (int i = 0; i < N; ++i) pos[i] = i % T;
    Bk::from_host(Bk::data(positions_), pos.data(), pos.size());
    const int32_t* p = Bk::data(positions_);
    auto& a = A_;
    embed(a.encoded, tokens, N);
    if (const auto* rows = this->active_tokens()) rows->add_to_embeddings(a.encoded, tokens, N);
    for (int l = 0; l < cfg_.n_layer; ++l) {
      const Scalar* x = l == 0 ? a.encoded : a.res3 + (l - 1) * NC;
      Scalar *xn1 = a.xn1 + l * NC, *q = a.q + l * NC, *k = a.k + l * NKVl, *v = a.v + l * NKVl;
      Bk::rmsnorm_forward(xn1, a.rstd1 + l * N, x, P_.attn_norm + l * C, N, C, cfg_.norm_eps);
      linear_forward(q, xn1, N, l, llama::wq, lora_u(l, llama::wq));
      linear_forward(k, xn1, N, l, llama::wk, lora_u(l, llama::wk));
      linear_forward(v, xn1, N, l, llama::wv, lora_u(l, llama::wv));
      Bk::rope_forward(q, p, N, NH, hs, cfg_.rope_theta);
      Bk::rope_forward(k, p, N, NKV, hs, cfg_.rope_theta);
      Bk::gqa_attention_forward(a.atty + l * NC, a.att + l * att_size(), q, k, v, B, T, NH, NKV,
                                hs);
      linear_forward(a.proj, a.atty + l * NC, N, l, llama::wo, lora_u(l, llama::wo));
      Bk::residual_forward(a.res2 + l * NC, x, a.proj, NC);
      Scalar *xn2 = a.xn2 + l * NC, *h1 = a.h1 + l * NH_, *h3 = a.h3 + l * NH_;
      Bk::rmsnorm_forward(xn2, a.rstd2 + l * N, a.res2 + l * NC, P_.ffn_norm + l * C, N, C,
                          cfg_.norm_eps);
      linear_forward(h1, xn2, N, l, llama::w1, lora_u(l, llama::w1));
      linear_forward(h3, xn2, N, l, llama::w3, lora_u(l, llama::w3));
      Bk::swiglu_forward(a.g + l * NH_, h1, h3, NH_);
      linear_forward(a.proj, a.g + l * NH_, N, l, llama::w2, lora_u(l, llama::w2));
      Bk::residual_forward(a.res3 + l * NC, a.res2 + l * NC, a.proj, NC);
    }
    Bk::rmsnorm_forward(a.xnf, a.rstdf, a.res3 + (cfg_.n_layer - 1) * NC, P_.norm, N, C,
                        cfg_.norm_eps);
    Bk::matmul_forward(a.logits, a.xnf, P_.lm_head, static_cast<const Scalar*>(nullptr), N, C,
                       cfg_.vocab_size);
    if (const auto* rows = this->active_tokens()) rows->add_to_logits(a.logits, a.xnf, N);
  }

  // Accumulates parameter gradients from d loss / d logits [B, T, V] of the last forward: base
  // gradients if the base is trainable, adapter gradients if adapters are active.
  void backward(const Scalar* dlogits) {
    GFNLM_CHECK(B_ > 0, "backward() called before forward()");
    const int B = B_, T = T_, N = B * T, C = cfg_.d_model, KV = cfg_.kv_dim(), H = cfg_.d_ff;
    const int NH = cfg_.n_head, NKV = cfg_.n_kv_head, hs = cfg_.head_size(), L = cfg_.n_layer;
    const long NC = static_cast<long>(N) * C, NKVl = static_cast<long>(N) * KV,
               NH_ = static_cast<long>(N) * H;
    const int32_t* p = Bk::data(positions_);
    auto& a = A_;
    const bool base = this->base_trainable();
    if (base) this->ensure_grads();
    Bk::matmul_backward(a.dln, base ? G_.lm_head : nullptr, nullptr, dlogits, a.xnf, P_.lm_head, N,
                        C, cfg_.vocab_size, Scalar(1), false);
    if (auto* rows = this->active_tokens()) rows->backward_logits(dlogits, a.xnf, a.dln, N);
    Bk::fill(a.dx, static_cast<std::size_t>(NC), Scalar(0));
    Bk::rmsnorm_backward(a.dx, base ? G_.norm : nullptr, a.dln, a.res3 + (L - 1) * NC, P_.norm,
                         a.rstdf, N, C);
    for (int l = L - 1; l >= 0; --l) {
      const Scalar* x = l == 0 ? a.encoded : a.res3 + (l - 1) * NC;
      // dx is d res3[l]; res3 = res2 + w2(silu(w1 xn2) * w3 xn2), xn2 = rmsnorm(res2)
      linear_backward(a.dg, a.dx, a.g + l * NH_, N, l, llama::w2, false);
      Bk::swiglu_backward(a.dh1, a.dh3, a.dg, a.h1 + l * NH_, a.h3 + l * NH_, NH_);
      linear_backward(a.dln, a.dh1, a.xn2 + l * NC, N, l, llama::w1, false);
      linear_backward(a.dln, a.dh3, a.xn2 + l * NC, N, l, llama::w3, true);
      Bk::rmsnorm_backward(a.dx, base ? G_.ffn_norm + l * C : nullptr, a.dln, a.res2 + l * NC,
                           P_.ffn_norm + l * C, a.rstd2 + l * N, N, C);
      // dx is d res2[l]; res2 = x + wo(attn(rope(wq xn1), rope(wk xn1), wv xn1))
      linear_backward(a.datty, a.dx, a.atty + l * NC, N, l, llama::wo, false);
      Bk::gqa_attention_backward(a.dq, a.dk, a.dv, a.datt, a.datty, a.q + l * NC, a.k + l * NKVl,
                                 a.v + l * NKVl, a.att + l * att_size(), B, T, NH, NKV, hs);
      Bk::rope_backward(a.dq, p, N, NH, hs, cfg_.rope_theta);
      Bk::rope_backward(a.dk, p, N, NKV, hs, cfg_.rope_theta);
      linear_backward(a.dln, a.dq, a.xn1 + l * NC, N, l, llama::wq, false);
      linear_backward(a.dln, a.dk, a.xn1 + l * NC, N, l, llama::wk, true);
      linear_backward(a.dln, a.dv, a.xn1 + l * NC, N, l, llama::wv, true);
      Bk::rmsnorm_backward(a.dx, base ? G_.attn_norm + l * C : nullptr, a.dln, x,
                           P_.attn_norm + l * C, a.rstd1 + l * N, N, C);
    }
    if (base) Bk::encoder_backward(G_.embed, nullptr, a.dx, Bk::data(tokens_), B, T, C);
    if (auto* rows = this->active_tokens()) rows->backward_embeddings(a.dx, Bk::data(tokens_), N);
  }

  // ---- incremental decoding -----------------------------------------------------------------

  // As Transformer::decode: each token goes to its row's next position (0, 1 or several tokens
  // per row, in order); returns their logits [N, V], valid until the cache's next decode.
  std::span<const Scalar> decode(Cache& cache, std::span<const DecodeToken> tokens) const {
    GFNLM_CHECK(cache.config().same_shape(cfg_),
                "decode: the LlamaKvCache was made for another model");
    const int N = static_cast<int>(tokens.size());
    if (N == 0) return {};
    std::vector<int32_t> host_tok(N), host_row(N), host_pos;
    for (int i = 0; i < N; ++i) {
      host_tok[i] = tokens[i].token;
      host_row[i] = tokens[i].row;
    }
    check_tokens(host_tok.data(), N, "decode");
    cache.place(tokens.data(), N, host_pos);
    const int C = cfg_.d_model, KV = cfg_.kv_dim(), NH = cfg_.n_head, NKV = cfg_.n_kv_head,
              hs = cfg_.head_size(), T = cfg_.max_seq_len;
    const long NC = static_cast<long>(N) * C;
    auto w = cache.workspace(N, this->lora_rank_active());
    Bk::from_host(w.tokens, host_tok.data(), host_tok.size());
    Bk::from_host(w.rows, host_row.data(), host_row.size());
    Bk::from_host(w.positions, host_pos.data(), host_pos.size());
    embed(w.x, host_tok.data(), N);
    if (const auto* rows = this->active_tokens()) rows->add_to_embeddings(w.x, host_tok.data(), N);
    for (int l = 0; l < cfg_.n_layer; ++l) {
      Bk::rmsnorm_forward(w.ln, nullptr, w.x, P_.attn_norm + l * C, N, C, cfg_.norm_eps);
      linear_forward(w.q, w.ln, N, l, llama::wq, w.u);
      linear_forward(w.k, w.ln, N, l, llama::wk, w.u);
      linear_forward(w.v, w.ln, N, l, llama::wv, w.u);
      Bk::rope_forward(w.q, w.positions, N, NH, hs, cfg_.rope_theta);
      Bk::rope_forward(w.k, w.positions, N, NKV, hs, cfg_.rope_theta);
      Bk::gqa_kv_cache_write(cache.keys(l), cache.values(l), w.k, w.v, w.rows, w.positions, N, KV,
                             T);
      Bk::gqa_attention_decode(w.atty, w.scores, w.q, cache.keys(l), cache.values(l), w.rows,
                               w.positions, N, NH, NKV, hs, T);
      linear_forward(w.proj, w.atty, N, l, llama::wo, w.u);
      Bk::residual_forward(w.x, w.x, w.proj, NC);
      Bk::rmsnorm_forward(w.ln, nullptr, w.x, P_.ffn_norm + l * C, N, C, cfg_.norm_eps);
      linear_forward(w.h1, w.ln, N, l, llama::w1, w.u);
      linear_forward(w.h3, w.ln, N, l, llama::w3, w.u);
      Bk::swiglu_forward(w.h1, w.h1, w.h3, static_cast<long>(N) * cfg_.d_ff);
      linear_forward(w.proj, w.h1, N, l, llama::w2, w.u);
      Bk::residual_forward(w.x, w.x, w.proj, NC);
    }
    Bk::rmsnorm_forward(w.ln, nullptr, w.x, P_.norm, N, C, cfg_.norm_eps);
    Bk::matmul_forward(w.logits, w.ln, P_.lm_head, static_cast<const Scalar*>(nullptr), N, C,
                       cfg_.vocab_size);
    if (const auto* rows = this->active_tokens()) rows->add_to_logits(w.logits, w.ln, N);
    return {w.logits, static_cast<std::size_t>(N) * cfg_.vocab_size};
  }

  Cache make_cache(int rows) const { return Cache(cfg_, rows); }

  // ---- parameters ---------------------------------------------------------------------------

  // One view per tensor per layer, named as Hugging Face Llama
  // ("model.layers.0.mlp.up_proj.weight").
  ParameterList<Scalar> base_parameters() {
    this->ensure_grads();
    ParameterList<Scalar> list;
    for (const auto& s : llama::param_specs(cfg_))
      for (int l = 0; l < s.layers; ++l) {
        // Per-layer patterns are formatted even when L = 1 (fmt ignores the unused argument of
        // whole-model names).
        const std::string name = fmt::format(fmt::runtime(s.name), l);
        list.push_back({name, llama::member(P_, s.slot) + l * s.size,
                        llama::member(G_, s.slot) + l * s.size, s.size, s.weight_decay});
      }
    return list;
  }

  // Copies `values` (host) into the base tensor named as in base_parameters(); the size must
  // match. Used by the loaders.
  void load_tensor(const std::string& name, std::span<const Scalar> values) {
    for (const auto& p : base_parameters()) {
      if (p.name != name) continue;
      GFNLM_CHECK(values.size() == p.size, "load_tensor '{}': {} values given, the tensor has {}",
                  name, values.size(), p.size);
      Bk::from_host(p.value, values.data(), values.size());
      return;
    }
    fail("load_tensor: this model has no tensor named '{}'", name);
  }

  // ---- whole-model checkpoints (base weights; adapters are saved separately) ----------------

  void save(std::ostream& os) const {
    write_pod<uint64_t>(os, kMagic);
    for (const int v : {cfg_.vocab_size, cfg_.max_seq_len, cfg_.n_layer, cfg_.n_head,
                        cfg_.n_kv_head, cfg_.d_model, cfg_.d_ff})
      write_pod<int32_t>(os, v);
    write_pod<uint8_t>(os, cfg_.tied_head ? 1 : 0);
    for (const double v : {cfg_.norm_eps, cfg_.rope_theta, cfg_.init_std}) write_pod<double>(os, v);
    std::vector<Scalar> host(this->num_parameters());
    Bk::to_host(host.data(), Bk::data(params_), host.size());
    write_array(os, host.data(), host.size());
  }

  static LlamaTransformer from_stream(std::istream& is) {
    LlamaTransformer model(read_config(is));
    model.read_params(is);
    return model;
  }

  // Weights saved by save(); the stream's shape must equal this model's. Drops any adapters.
  void load(std::istream& is) {
    const LlamaConfig c = read_config(is);
    GFNLM_CHECK(c.same_shape(cfg_),
                "load: checkpoint is V={} T={} L={} H={} KV={} C={} F={} tied={}, the model is "
                "V={} T={} L={} H={} KV={} C={} F={} tied={}",
                c.vocab_size, c.max_seq_len, c.n_layer, c.n_head, c.n_kv_head, c.d_model, c.d_ff,
                c.tied_head, cfg_.vocab_size, cfg_.max_seq_len, cfg_.n_layer, cfg_.n_head,
                cfg_.n_kv_head, cfg_.d_model, cfg_.d_ff, cfg_.tied_head);
    cfg_.norm_eps = c.norm_eps;
    cfg_.rope_theta = c.rope_theta;
    read_params(is);
    this->drop_adapters();
    this->forget_shape();
  }

 private:
  static constexpr uint64_t kMagic = 0x314d4c4c4e4c4647ULL;  // "GFLNLLM1"

  static LlamaConfig read_config(std::istream& is) {
    GFNLM_CHECK(read_pod<uint64_t>(is, "llama.magic") == kMagic,
                "not a gfnlm Llama checkpoint (bad magic)");
    LlamaConfig c;
    for (int* f :
         {&c.vocab_size, &c.max_seq_len, &c.n_layer, &c.n_head, &c.n_kv_head, &c.d_model, &c.d_ff})
      *f = read_pod<int32_t>(is, "llama.config");
    c.tied_head = read_pod<uint8_t>(is, "llama.tied_head") != 0;
    c.norm_eps = read_pod<double>(is, "llama.norm_eps");
    c.rope_theta = read_pod<double>(is, "llama.rope_theta");
    c.init_std = read_pod<double>(is, "llama.init_std");
    c.validate();
    // A corrupted header must not allocate a model the stream cannot hold: compare a lower bound
    // of the parameter bytes (in double, which cannot overflow) with what is left.
    const double C = c.d_model,
                 lower = (double(c.vocab_size) + c.n_layer * (2.0 * C + 3.0 * c.d_ff)) * C;
    const auto left = stream_bytes_left(is);
    GFNLM_CHECK(!left || lower * sizeof(Scalar) <= double(*left),
                "llama stream: a V={} L={} C={} F={} model needs at least {:.0f} bytes of "
                "parameters, the stream has {} left (truncated, or the header is corrupted)",
                c.vocab_size, c.n_layer, c.d_model, c.d_ff, lower * sizeof(Scalar),
                left.value_or(0));
    return c;
  }

  // Every tensor must be finite (core/finite.hpp); the error names the first that is not.
  void read_params(std::istream& is) {
    std::vector<Scalar> host(this->num_parameters());
    read_array(is, host.data(), host.size(), "llama.parameters");
    std::size_t offset = 0;
    for (const auto& s : llama::param_specs(cfg_))
      for (int l = 0; l < s.layers; ++l, offset += s.size)
        if (first_non_finite(host.data() + offset, s.size) != s.size)
          require_finite_in_stream(host.data() + offset, s.size, "llama stream",
                                   fmt::format(fmt::runtime(s.name), l));
    Bk::from_host(Bk::data(params_), host.data(), host.size());
  }

  template <class F>
  void init_with(F draw) {
    std::vector<Scalar> host(this->num_parameters());
    std::size_t offset = 0;
    for (const auto& s : llama::param_specs(cfg_)) {
      const bool gain = s.slot <= -2 && s.slot >= -4;
      for (std::size_t i = 0; i < s.size * s.layers; ++i)
        host[offset + i] = static_cast<Scalar>(gain ? 1.0 : draw(s));
      offset += s.size * s.layers;
    }
    Bk::from_host(Bk::data(params_), host.data(), host.size());
  }

  void check_tokens(const int32_t* tokens, long n, const char* what) const {
    for (long i = 0; i < n; ++i)
      GFNLM_CHECK(tokens[i] >= 0 && tokens[i] < cfg_.vocab_size,
                  "{}: token {} at index {} is outside the vocabulary [0, {})", what, tokens[i], i,
                  cfg_.vocab_size);
  }

  // out[n] = embed[tokens[n]] (tokens on the host).
  void embed(Scalar* out, const int32_t* tokens, int N) const {
    const long C = cfg_.d_model;
    for (int n = 0; n < N; ++n) Bk::copy(out + n * C, P_.embed + tokens[n] * C, C);
  }

  // Called by LoraHost when the adapters change: the next forward re-lays out the activations.
  void relayout() { this->forget_shape(); }

  std::size_t att_size() const { return static_cast<std::size_t>(B_) * cfg_.n_head * T_ * T_; }
  Scalar* lora_u(int l, int t) {
    return A_.lora_u + (static_cast<std::size_t>(l) * llama::kNumProj + t) * B_ * T_ *
                           static_cast<std::size_t>(this->lora_rank_active());
  }

  void prepare(int B, int T) {
    this->prepare_arenas(B, T, this->lora_rank_active());
    const std::size_t N = static_cast<std::size_t>(B) * T;
    if (Bk::size(positions_) < N) positions_ = Bk::template alloc<int32_t>(N);
  }

  // out = inp W_t^T (+ scale (inp A^T) B^T, keeping u = inp A^T for backward).
  void linear_forward(Scalar* out, const Scalar* inp, int N, int l, int t, Scalar* u) const {
    const auto [in, o] = llama::proj_dims(cfg_, t);
    const Scalar* w = P_.w[t] + static_cast<std::size_t>(l) * in * o;
    Bk::matmul_forward(out, inp, w, static_cast<const Scalar*>(nullptr), N, in, o, Scalar(1),
                       false);
    if (!this->adapted(t)) return;
    const auto s = this->adapters().slot(l, t);
    const int r = this->adapters().config().rank;
    Bk::matmul_forward(u, inp, s.a, static_cast<const Scalar*>(nullptr), N, in, r, Scalar(1),
                       false);
    Bk::matmul_forward(out, u, s.b, static_cast<const Scalar*>(nullptr), N, r, o,
                       this->adapters().scale(), true);
  }

  // dinp (= or += when accumulate) dout @ W_t (+ the adapter path); weight gradients where
  // trainable.
  void linear_backward(Scalar* dinp, const Scalar* dout, const Scalar* inp, int N, int l, int t,
                       bool accumulate) {
    const auto [in, o] = llama::proj_dims(cfg_, t);
    const std::size_t off = static_cast<std::size_t>(l) * in * o;
    Bk::matmul_backward(dinp, this->base_trainable() ? G_.w[t] + off : nullptr, nullptr, dout, inp,
                        P_.w[t] + off, N, in, o, Scalar(1), accumulate);
    if (!this->adapted(t)) return;
    const auto s = this->adapters().slot(l, t);
    const int r = this->adapters().config().rank;
    Bk::matmul_backward(A_.du, s.gb, nullptr, dout, lora_u(l, t), s.b, N, r, o,
                        this->adapters().scale(), false);
    Bk::matmul_backward(dinp, s.ga, nullptr, A_.du, inp, s.a, N, in, r, Scalar(1), true);
  }

  typename Bk::template Buffer<int32_t> positions_;
};

}  // namespace gfnlm
