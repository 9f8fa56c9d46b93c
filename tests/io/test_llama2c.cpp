// llama2.c checkpoints: synthetic files in each layout (written here in export.py's order, with
// every value distinct so a misplaced tensor shows), malformed headers, and the real aidreams260K
// model from ../shared (skipped where absent).
#include <gfnlm/io/llama2c.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace gfnlm;

namespace {

struct Writer {
  std::string bytes;
  float next = 0;
  template <class T>
  void pod(T v) {
    bytes.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  // Appends n floats continuing a global counter; returns the first value.
  float tensor(int64_t n) {
    const float first = next;
    for (int64_t i = 0; i < n; ++i) pod(next++);
    return first;
  }
};

// dim 8, hidden 12, 2 layers, 4 heads, 2 kv heads, vocab 10, seq_len 5: head 2, kv_dim 4.
constexpr int D = 8, H = 12, L = 2, NH = 4, NKV = 2, V = 10, S = 5, KV = 4;

// Writes a checkpoint as export.py does; records the first value of each tensor.
std::string make(int version, bool shared, std::map<std::string, float>& first) {
  Writer w;
  if (version == 1) {
    w.pod(uint32_t{0x616b3432});
    w.pod(int32_t{1});
  }
  for (const int v : {D, H, L, NH, NKV, version == 0 && !shared ? -V : V, S}) w.pod(int32_t{v});
  if (version == 1) {
    w.pod(static_cast<uint8_t>(shared ? 1 : 0));
    w.bytes.resize(256, '\0');
  }
  auto layers = [&](const std::string& suffix, int64_t n) {
    for (int l = 0; l < L; ++l) first["layers." + std::to_string(l) + "." + suffix] = w.tensor(n);
  };
  if (version == 0) {
    first["tok_embeddings.weight"] = w.tensor(V * D);
    layers("attention_norm.weight", D);
    layers("attention.wq.weight", D * D);
    layers("attention.wk.weight", KV * D);
    layers("attention.wv.weight", KV * D);
    layers("attention.wo.weight", D * D);
    layers("ffn_norm.weight", D);
    layers("feed_forward.w1.weight", H * D);
    layers("feed_forward.w2.weight", D * H);
    layers("feed_forward.w3.weight", H * D);
    first["norm.weight"] = w.tensor(D);
    w.tensor(2 * S * (D / NH) / 2);  // RoPE tables
  } else {
    layers("attention_norm.weight", D);
    layers("ffn_norm.weight", D);
    first["norm.weight"] = w.tensor(D);
    first["tok_embeddings.weight"] = w.tensor(V * D);
    layers("attention.wq.weight", D * D);
    layers("attention.wk.weight", KV * D);
    layers("attention.wv.weight", KV * D);
    layers("attention.wo.weight", D * D);
    layers("feed_forward.w1.weight", H * D);
    layers("feed_forward.w2.weight", D * H);
    layers("feed_forward.w3.weight", H * D);
  }
  if (!shared) first["output.weight"] = w.tensor(V * D);
  return w.bytes;
}

}  // namespace

TEST_CASE("llama2c: every layout reads back tensor by tensor", "[io][llama2c]") {
  for (const int version : {0, 1}) {
    for (const bool shared : {true, false}) {
      INFO("version " << version << (shared ? " tied" : " untied"));
      std::map<std::string, float> first;
      const auto bytes = make(version, shared, first);
      const auto ckpt = read_llama2c_checkpoint(bytes, "mem.bin");
      Llama2cConfig want;
      want.version = version, want.dim = D, want.hidden_dim = H, want.n_layers = L;
      want.n_heads = NH, want.n_kv_heads = NKV, want.vocab_size = V, want.seq_len = S;
      want.shared_classifier = shared;
      CHECK(ckpt.config == want);
      CHECK(ckpt.config.kv_dim() == KV);
      REQUIRE(ckpt.tensors.size() == first.size());
      for (const auto& [name, value] : first) {
        INFO(name);
        REQUIRE(ckpt.tensors.count(name));
        const auto& t = ckpt.tensors.at(name);
        int64_t numel = 1;
        for (const auto d : ckpt.shapes.at(name)) numel *= d;
        CHECK(static_cast<int64_t>(t.size()) == numel);
        CHECK(t.front() == value);
        CHECK(t.back() == value + static_cast<float>(numel - 1));
      }
      CHECK(ckpt.shapes.at("layers.1.attention.wk.weight") == std::vector<int64_t>{KV, D});
      CHECK(ckpt.shapes.at("layers.0.feed_forward.w2.weight") == std::vector<int64_t>{D, H});
      CHECK(ckpt.shapes.at("tok_embeddings.weight") == std::vector<int64_t>{V, D});

      // The same through a file.
      const auto path = fs::temp_directory_path() / "gfnlm_test_llama2c.bin";
      std::ofstream(path, std::ios::binary) << bytes;
      const auto from_file = read_llama2c_checkpoint(path);
      CHECK(from_file.tensors == ckpt.tensors);
      fs::remove(path);
    }
  }
}

TEST_CASE("llama2c: malformed checkpoints", "[io][llama2c]") {
  using Catch::Contains;
  std::map<std::string, float> first;
  const auto legacy = make(0, true, first);
  const auto v1 = make(1, false, first);
  const auto read = [](const std::string& b) { return read_llama2c_checkpoint(b, "m.bin"); };
  CHECK_THROWS_AS(read(legacy.substr(0, legacy.size() - 4)), FormatError);
  CHECK_THROWS_WITH(read(legacy.substr(0, legacy.size() - 4)),
                    Contains("'m.bin'") && Contains("implies") && Contains("vocab_size 10"));
  CHECK_THROWS_WITH(read(v1 + "xxxx"), Contains("implies") && Contains("untied"));
  CHECK_THROWS_WITH(read(legacy.substr(0, 10)),
                    Contains("truncated") && Contains("n_layers needs 4 bytes at offset 8"));
  CHECK_THROWS_WITH(read(v1.substr(0, 100)), Contains("truncated") && Contains("256-byte"));
  CHECK_THROWS_WITH(read(""), Contains("truncated") && Contains("dim"));

  auto patched = [](std::string b, std::size_t at, auto value) {
    std::memcpy(b.data() + at, &value, sizeof value);
    return b;
  };
  CHECK_THROWS_WITH(read(patched(v1, 4, int32_t{2})),
                    Contains("version 2") && Contains("not supported"));
  CHECK_THROWS_WITH(read(patched(v1, 4, int32_t{9})), Contains("unknown llama2.c checkpoint "
                                                               "version 9"));
  // A wrong magic number is read as a legacy header, which is then implausible.
  CHECK_THROWS_WITH(read(patched(v1, 0, uint32_t{0x616b3433})),
                    Contains("header field dim") && Contains("not a llama2.c checkpoint"));
  CHECK_THROWS_WITH(read(patched(v1, 36, uint8_t{7})), Contains("shared_classifier is 7"));
  CHECK_THROWS_WITH(read(patched(legacy, 0, int32_t{-8})), Contains("dim = -8"));
  CHECK_THROWS_WITH(read(patched(legacy, 12, int32_t{3})),
                    Contains("dim 8 is not a multiple of n_heads 3"));
  CHECK_THROWS_WITH(read(patched(legacy, 16, int32_t{3})),
                    Contains("n_kv_heads 3 does not divide n_heads 4"));
  CHECK_THROWS_WITH(read(patched(legacy, 20, INT32_MIN)), Contains("vocab_size = 0"));
  CHECK_THROWS_WITH(read(patched(legacy, 8, int32_t{4000})),
                    Contains("n_layers = 4000") || Contains("implies"));
  CHECK_THROWS_WITH(read_llama2c_checkpoint(fs::path("/nonexistent/model.bin")),
                    Contains("/nonexistent/model.bin"));
}

TEST_CASE("llama2c: the real aidreams260K checkpoint", "[io][llama2c]") {
  const auto path = fs::path(GFNLM_SHARED_DIR) / "models/aidreams260K/model.bin";
  if (!fs::exists(path)) {
    WARN("SKIPPED: " << path.string() << " is absent");
    return;
  }
  const auto ckpt = read_llama2c_checkpoint(path);
  // The README: dim=64, hidden_dim=172, n_layers=4, n_heads=4, n_kv_heads=4, vocab_size=512,
  // seq_len=128, positive vocab_size (tied head), legacy layout.
  Llama2cConfig want;
  want.version = 0, want.dim = 64, want.hidden_dim = 172, want.n_layers = 4, want.n_heads = 4;
  want.n_kv_heads = 4, want.vocab_size = 512, want.seq_len = 128, want.shared_classifier = true;
  CHECK(ckpt.config == want);
  CHECK(ckpt.tensors.size() == 1 + 4 * 9 + 1);
  CHECK(ckpt.tensors.count("output.weight") == 0);
  CHECK(ckpt.shapes.at("layers.3.feed_forward.w2.weight") == std::vector<int64_t>{64, 172});
  // Trained weights: finite, not all zero; RMSNorm gains are positive on average.
  for (const auto& [name, t] : ckpt.tensors) {
    INFO(name);
    double sum_abs = 0;
    bool finite = true;
    for (const float x : t) finite &= std::isfinite(x), sum_abs += std::abs(x);
    CHECK(finite);
    CHECK(sum_abs > 0);
  }
  double gain = 0;
  for (const float x : ckpt.tensors.at("norm.weight")) gain += x;
  CHECK(gain > 0);
}
