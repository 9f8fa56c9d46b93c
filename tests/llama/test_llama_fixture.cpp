// Our float32 Llama against PyTorch (issue 4, acceptance 1): logits, cross-entropy and every
// parameter gradient of small Llama-family models written by
// tests/reference/make_llama_fixture.py. Error per tensor: max_i |ours_i - torch_i| /
// max_i |torch_i| (relative to the tensor's scale, as tests/model/test_gpt2_fixture.cpp).
#include <gfnlm/core/serialize.hpp>
#include <gfnlm/model/llama.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <vector>

namespace {

template <class A, class B>
double scaled_err(const A* ours, const B* ref, std::size_t n) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(double(ours[i]) - double(ref[i])));
    scale = std::max(scale, std::abs(double(ref[i])));
  }
  return diff / std::max(scale, 1e-30);
}

template <class T>
std::vector<T> read_n(std::istream& is, std::size_t n) {
  std::vector<T> v(n);
  is.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(n * sizeof(T)));
  REQUIRE(is.gcount() == static_cast<std::streamsize>(n * sizeof(T)));
  return v;
}

}  // namespace

TEST_CASE("float32 Llama logits and gradients match PyTorch", "[llama][reference]") {
  std::ifstream is(GFNLM_SOURCE_DIR "/tests/reference/llama_fixture.bin", std::ios::binary);
  REQUIRE(is.good());
  char magic[8];
  is.read(magic, 8);
  REQUIRE(std::string(magic, 8) == "LLAMFIX1");
  const int cases = gfnlm::read_pod<int32_t>(is, "cases");
  REQUIRE(cases == 2);
  for (int k = 0; k < cases; ++k) {
    const auto h = read_n<int32_t>(is, 10);
    const auto f = read_n<double>(is, 2);
    gfnlm::LlamaConfig c;
    c.vocab_size = h[0];
    c.max_seq_len = h[1];
    c.n_layer = h[2];
    c.n_head = h[3];
    c.n_kv_head = h[4];
    c.d_model = h[5];
    c.d_ff = h[6];
    c.tied_head = h[7] != 0;
    c.norm_eps = f[0];
    c.rope_theta = f[1];
    const int B = h[8], T = h[9], N = B * T;
    const auto tokens = read_n<int32_t>(is, N);
    const auto targets = read_n<int32_t>(is, N);
    const auto n = static_cast<std::size_t>(gfnlm::read_pod<int64_t>(is, "n"));
    const auto params = read_n<float>(is, n);
    const auto logits = read_n<double>(is, static_cast<std::size_t>(N) * c.vocab_size);
    const double loss = gfnlm::read_pod<double>(is, "loss");
    const auto grads = read_n<double>(is, n);

    gfnlm::LlamaTransformer<> m(c);
    REQUIRE(m.num_parameters() == n);
    std::size_t offset = 0;
    for (const auto& p : m.base_parameters()) {
      std::copy(params.begin() + offset, params.begin() + offset + p.size, p.value);
      offset += p.size;
    }
    m.forward(tokens.data(), B, T);
    const double our_loss = m.cross_entropy(targets.data(), nullptr);
    m.zero_grad();
    m.backward_cross_entropy();

    const double e_logits = scaled_err(m.logits(), logits.data(), logits.size());
    const double e_loss = std::abs(our_loss - loss) / std::abs(loss);
    std::printf("llama fixture case %d (NH %d, NKV %d, %s head): logits err %.2e, loss err %.2e\n",
                k, c.n_head, c.n_kv_head, c.tied_head ? "tied" : "untied", e_logits, e_loss);
    CHECK(e_logits < 1e-4);
    CHECK(e_loss < 1e-4);
    double worst = 0;
    std::string worst_name;
    offset = 0;
    for (const auto& p : m.base_parameters()) {
      const double e = scaled_err(p.grad, grads.data() + offset, p.size);
      INFO(p.name);
      CHECK(e < 1e-4);
      if (e > worst) worst = e, worst_name = p.name;
      offset += p.size;
    }
    std::printf("  worst gradient err %.2e (%s)\n", worst, worst_name.c_str());
  }
}
