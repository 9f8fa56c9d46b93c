// LoRA behaviour (issue 2, acceptance 4) and checkpoints: at init the adapted model equals the
// base exactly; training moves only adapter parameters; adapters off scores as the base; adapters
// and whole models survive a save / load round trip.
#include <gfnlm/model/adamw.hpp>
#include <gfnlm/model/transformer.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

using Model = gfnlm::Transformer<>;

namespace {

gfnlm::TransformerConfig config() {
  gfnlm::TransformerConfig c;
  c.vocab_size = 19;
  c.max_seq_len = 12;
  c.n_layer = 2;
  c.n_head = 2;
  c.d_model = 16;
  return c;
}

constexpr int B = 3, T = 10;

std::vector<int32_t> batch(int shift) {
  std::vector<int32_t> t(B * T);
  for (int i = 0; i < B * T; ++i) t[i] = (i * 5 + shift) % 19;
  return t;
}

std::vector<float> logits_of(Model& m, const std::vector<int32_t>& tok) {
  m.forward(tok.data(), B, T);
  return {m.logits(), m.logits() + B * T * 19};
}

std::vector<float> snapshot(const gfnlm::ParameterList<float>& params) {
  std::vector<float> v;
  for (const auto& p : params) v.insert(v.end(), p.value, p.value + p.size);
  return v;
}

}  // namespace

TEST_CASE("LoRA at init equals the base exactly; training moves only adapters", "[model][lora]") {
  gfnlm::Rng rng(31);
  Model m(config(), rng);
  const auto tok = batch(0), targets = batch(1);
  const auto base_logits = logits_of(m, tok);
  const auto base_values = snapshot(m.base_parameters());

  m.enable_lora({.rank = 4, .alpha = 8.0}, rng);
  CHECK(logits_of(m, tok) == base_logits);  // B = 0: bit-identical
  CHECK_FALSE(m.base_trainable());
  CHECK(m.parameters().size() == m.lora_parameters().size());
  CHECK(m.lora_parameters().size() == 2u * 4 * 2);

  gfnlm::AdamW<float> opt(m.parameters(), {.lr = 1e-2});
  m.forward(tok.data(), B, T);
  const double first = m.cross_entropy(targets.data());
  double last = first;
  for (int step = 0; step < 30; ++step) {
    m.zero_grad();
    m.forward(tok.data(), B, T);
    last = m.cross_entropy(targets.data());
    m.backward_cross_entropy();
    opt.step();
  }
  std::printf("LoRA-only training: CE %.4f -> %.4f in 30 AdamW steps\n", first, last);
  CHECK(last < first - 0.1);
  CHECK(snapshot(m.base_parameters()) == base_values);  // the base did not move
  CHECK(logits_of(m, tok) != base_logits);

  // adapters off scores exactly as the base model
  m.set_adapters_enabled(false);
  CHECK(logits_of(m, tok) == base_logits);
  m.set_adapters_enabled(true);

  // adapter round trip into a fresh copy of the base
  std::stringstream adapters;
  m.save_adapters(adapters);
  const auto adapted = logits_of(m, tok);
  gfnlm::Rng other(99);
  Model fresh(config(), other);
  std::stringstream whole;
  m.save(whole);  // base weights only
  fresh.load(whole);
  CHECK(logits_of(fresh, tok) == base_logits);
  fresh.load_adapters(adapters);
  CHECK(logits_of(fresh, tok) == adapted);
  CHECK(fresh.lora_config()->rank == 4);
}

TEST_CASE("checkpoints are validated", "[model][lora]") {
  gfnlm::Rng rng(32);
  Model m(config(), rng);
  m.enable_lora({.rank = 2, .alpha = 2.0, .targets = gfnlm::LoraTargets::fc}, rng);
  std::stringstream adapters, whole;
  m.save_adapters(adapters);
  m.save(whole);

  auto c = config();
  c.n_layer = 3;
  Model deeper(c, rng);
  CHECK_THROWS_AS(deeper.load_adapters(adapters), gfnlm::Error);  // layer count differs
  CHECK_THROWS_AS(deeper.load(whole), gfnlm::Error);

  std::stringstream truncated(whole.str().substr(0, whole.str().size() / 2));
  Model same(config(), rng);
  CHECK_THROWS_AS(same.load(truncated), gfnlm::Error);
  std::stringstream garbage("not a checkpoint at all");
  CHECK_THROWS_AS(same.load_adapters(garbage), gfnlm::Error);

  std::stringstream again(whole.str());
  const Model loaded = Model::from_stream(again);
  CHECK(loaded.config().n_layer == 2);
  CHECK(loaded.num_parameters() == m.num_parameters());
}

TEST_CASE("base trainable: parameters() lists base and adapters", "[model][lora]") {
  gfnlm::Rng rng(33);
  Model m(config(), rng);
  CHECK(m.parameters().size() == m.base_parameters().size());
  CHECK(m.base_parameters().front().name == "wte.weight");
  CHECK(m.base_parameters()[2].name == "h.0.ln_1.weight");
  m.enable_lora({.rank = 2, .alpha = 2.0}, rng);
  m.set_base_trainable(true);
  CHECK(m.parameters().size() == m.base_parameters().size() + m.lora_parameters().size());
  CHECK(m.lora_parameters().front().name == "h.0.attn.c_attn.lora_A");
}

TEST_CASE("parameter names carry the layer index, also in a one-layer model", "[model]") {
  gfnlm::TransformerConfig c;
  c.vocab_size = 7;
  c.max_seq_len = 4;
  c.n_layer = 1;
  c.n_head = 1;
  c.d_model = 4;
  gfnlm::Rng rng(1);
  gfnlm::Transformer<> model(c, rng);
  std::vector<std::string> names;
  for (const auto& p : model.base_parameters()) names.push_back(p.name);
  REQUIRE(std::find(names.begin(), names.end(), "h.0.ln_1.weight") != names.end());
  REQUIRE(std::find(names.begin(), names.end(), "wte.weight") != names.end());
  for (const auto& n : names) REQUIRE(n.find("{}") == std::string::npos);
}
