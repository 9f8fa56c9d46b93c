// KV-cache decoding equals the full forward (issue 2, acceptance 3): ragged rows, rows that get
// several tokens in one call (prompt prefill, a tool's context tokens mid-sequence), rows that
// get nothing (finished), tokens of different rows interleaved, a reset row reused; with LoRA
// adapters on and off. The checks are decode_check.hpp's, shared with the Llama model.
#include <gfnlm/model/transformer.hpp>

#include "decode_check.hpp"

#include <catch2/catch.hpp>

#include <cstdio>

using Model = gfnlm::Transformer<>;
using decode_check::decode_error;
using decode_check::sequences;

namespace {

gfnlm::TransformerConfig config() {
  gfnlm::TransformerConfig c;
  c.vocab_size = 23;
  c.max_seq_len = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 16;
  c.init_std = 0.2;
  return c;
}

}  // namespace

TEST_CASE("KV-cache decoding equals the full forward", "[model][decode]") {
  gfnlm::Rng rng(21);
  Model m(config(), rng);
  const auto seqs = sequences(rng, 23);
  const double e = decode_error(m, seqs, rng);
  std::printf("decode vs full forward, base model: max error %.2e\n", e);
  CHECK(e < 1e-5);
}

TEST_CASE("KV-cache decoding with LoRA adapters on and off", "[model][decode][lora]") {
  gfnlm::Rng rng(22);
  Model m(config(), rng);
  const auto seqs = sequences(rng, 23);
  m.enable_lora({.rank = 4, .alpha = 8.0}, rng);
  for (const auto& p : m.lora_parameters())  // B = 0 at init: make the adapters matter
    for (std::size_t i = 0; i < p.size; ++i) p.value[i] += 0.2f * float(rng.normal());
  for (bool on : {true, false}) {
    m.set_adapters_enabled(on);
    const double e = decode_error(m, seqs, rng);
    std::printf("decode vs full forward, LoRA %s: max error %.2e\n", on ? "on" : "off", e);
    CHECK(e < 1e-5);
  }
}

TEST_CASE("decode rejects bad rows, tokens and overflow without side effects", "[model][decode]") {
  gfnlm::Rng rng(23);
  Model m(config(), rng);
  decode_check::check_rejects_bad_input(m);
}
