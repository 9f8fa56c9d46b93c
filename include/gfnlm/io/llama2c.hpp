#pragma once
// llama2.c checkpoints (Karpathy's llama2.c, export.py), read at the format level into a config
// and named float tensors in Meta's Llama naming, for the model layer to load.
//
//   legacy (version 0): int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//     (vocab_size < 0 marks an untied output head), then float32: tok_embeddings, attention_norm
//     [L], wq [L], wk [L], wv [L], wo [L], ffn_norm [L], w1 [L], w2 [L], w3 [L], norm, the RoPE
//     tables freq_cos / freq_sin [seq_len, head_size/2] (skipped), and output when untied.
//   version 1: uint32 magic 0x616b3432 ("ak42"), int32 version, the seven int32 above, uint8
//     shared_classifier, zero padding to 256 bytes, then float32: attention_norm [L], ffn_norm
//     [L], norm, tok_embeddings, wq [L], wk [L], wv [L], wo [L], w1 [L], w2 [L], w3 [L], output
//     when not shared.
//   version 2 (int8 Q8_0 groups) is rejected with a clear error.
// The file length must equal exactly what the header implies; that is checked before any tensor
// is read, so a truncated or foreign file never allocates or reads garbage.
#include <gfnlm/core/error.hpp>
#include <gfnlm/io/byte_reader.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm {

struct Llama2cConfig {
  int version = 0;  // 0 = legacy layout, 1 = "ak42" fp32
  int dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0,
      seq_len = 0;
  bool shared_classifier = true;  // output head tied to tok_embeddings
  // llama2.c's fixed conventions (not stored in the file).
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;

  int head_size() const { return dim / n_heads; }
  int kv_dim() const { return head_size() * n_kv_heads; }
  bool operator==(const Llama2cConfig&) const = default;
};

struct Llama2cTensor {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // byte offset in the file
  int64_t numel() const {
    int64_t n = 1;
    for (const auto d : shape) n *= d;
    return n;
  }
};

// Where every tensor lies in the file; the header and the file size are fully checked.
struct Llama2cLayout {
  Llama2cConfig config;
  std::vector<Llama2cTensor> tensors;  // in file order, the skipped RoPE tables excluded
};

struct Llama2cCheckpoint {
  Llama2cConfig config;
  // Meta's names: "tok_embeddings.weight", "layers.N.attention_norm.weight",
  // "layers.N.attention.wq.weight" ([dim, dim]; wk/wv [kv_dim, dim]; wo [dim, dim]),
  // "layers.N.ffn_norm.weight", "layers.N.feed_forward.w1.weight" ([hidden, dim]; w2
  // [dim, hidden]; w3 [hidden, dim]), "norm.weight", and "output.weight" only when untied.
  // Matrices are row-major [out, in], as torch.nn.Linear stores them.
  std::map<std::string, std::vector<float>> tensors;
  std::map<std::string, std::vector<int64_t>> shapes;
};

namespace detail {

inline constexpr uint32_t kLlama2cMagic = 0x616b3432;  // "ak42"
inline constexpr uint64_t kLlama2cV1HeaderBytes = 256;

}  // namespace detail

// Parses the header (the first min(256, file_size) bytes) and plans the layout of a file of
// `file_size` bytes. `name` is used in errors.
inline Llama2cLayout llama2c_layout(std::string_view head, uint64_t file_size,
                                    const std::string& name) {
  Llama2cLayout layout;
  auto& c = layout.config;
  ByteReader in(head, name);
  uint32_t magic = 0;
  if (head.size() >= 4) std::memcpy(&magic, head.data(), 4);
  uint64_t data_start = 0;
  if (magic == detail::kLlama2cMagic) {
    in.read<uint32_t>("magic");
    c.version = in.read<int32_t>("version");
    if (c.version == 2)
      throw FormatError(
          fmt::format("'{}': llama2.c version 2 (int8 Q8_0 quantised) checkpoints "
                      "are not supported; export with --version 1 (fp32)",
                      name));
    if (c.version != 1)
      throw FormatError(
          fmt::format("'{}': unknown llama2.c checkpoint version {} (supported: "
                      "legacy 0 and 1)",
                      name, c.version));
    data_start = detail::kLlama2cV1HeaderBytes;
  }
  const char* fields[] = {"dim",        "hidden_dim", "n_layers", "n_heads",
                          "n_kv_heads", "vocab_size", "seq_len"};
  int32_t v[7];
  for (int i = 0; i < 7; ++i) v[i] = in.read<int32_t>(fields[i]);
  c.dim = v[0], c.hidden_dim = v[1], c.n_layers = v[2], c.n_heads = v[3], c.n_kv_heads = v[4];
  c.seq_len = v[6];
  if (c.version == 0) {
    c.shared_classifier = v[5] > 0;
    c.vocab_size = v[5] == INT32_MIN ? 0 : (v[5] < 0 ? -v[5] : v[5]);
    data_start = 7 * 4;
  } else {
    c.vocab_size = v[5];
    const auto shared = in.read<uint8_t>("shared_classifier");
    if (shared > 1)
      throw FormatError(
          fmt::format("'{}': shared_classifier is {}, expected 0 or 1", name, shared));
    c.shared_classifier = shared == 1;
    if (file_size < data_start)
      throw FormatError(
          fmt::format("'{}' is truncated: {} bytes, shorter than the 256-byte "
                      "header",
                      name, file_size));
  }
  // Plausible ranges keep every size product below 2^63 (and reject foreign files early).
  const int limits[] = {1 << 20, 1 << 22, 1 << 12, 1 << 16, 1 << 16, 1 << 24, 1 << 24};
  const int values[] = {c.dim,        c.hidden_dim, c.n_layers, c.n_heads,
                        c.n_kv_heads, c.vocab_size, c.seq_len};
  for (int i = 0; i < 7; ++i)
    if (values[i] <= 0 || values[i] > limits[i])
      throw FormatError(
          fmt::format("'{}': header field {} = {} is not in [1, {}] (not a llama2.c "
                      "checkpoint?)",
                      name, fields[i], values[i], limits[i]));
  if (c.dim % c.n_heads != 0)
    throw FormatError(
        fmt::format("'{}': dim {} is not a multiple of n_heads {}", name, c.dim, c.n_heads));
  if (c.n_kv_heads > c.n_heads || c.n_heads % c.n_kv_heads != 0)
    throw FormatError(fmt::format("'{}': n_kv_heads {} does not divide n_heads {}", name,
                                  c.n_kv_heads, c.n_heads));

  const int64_t D = c.dim, H = c.hidden_dim, V = c.vocab_size, KV = c.kv_dim();
  uint64_t at = data_start;
  auto add = [&](std::string tensor, std::vector<int64_t> shape) {
    Llama2cTensor t{std::move(tensor), std::move(shape), at};
    at += static_cast<uint64_t>(t.numel()) * 4;
    layout.tensors.push_back(std::move(t));
  };
  auto per_layer = [&](const char* suffix, const std::vector<int64_t>& shape) {
    for (int l = 0; l < c.n_layers; ++l) add(fmt::format("layers.{}.{}", l, suffix), shape);
  };
  if (c.version == 0) {
    add("tok_embeddings.weight", {V, D});
    per_layer("attention_norm.weight", {D});
    per_layer("attention.wq.weight", {D, D});
    per_layer("attention.wk.weight", {KV, D});
    per_layer("attention.wv.weight", {KV, D});
    per_layer("attention.wo.weight", {D, D});
    per_layer("ffn_norm.weight", {D});
    per_layer("feed_forward.w1.weight", {H, D});
    per_layer("feed_forward.w2.weight", {D, H});
    per_layer("feed_forward.w3.weight", {H, D});
    add("norm.weight", {D});
    at += 2 * static_cast<uint64_t>(c.seq_len) * (c.head_size() / 2) * 4;  // RoPE tables
  } else {
    per_layer("attention_norm.weight", {D});
    per_layer("ffn_norm.weight", {D});
    add("norm.weight", {D});
    add("tok_embeddings.weight", {V, D});
    per_layer("attention.wq.weight", {D, D});
    per_layer("attention.wk.weight", {KV, D});
    per_layer("attention.wv.weight", {KV, D});
    per_layer("attention.wo.weight", {D, D});
    per_layer("feed_forward.w1.weight", {H, D});
    per_layer("feed_forward.w2.weight", {D, H});
    per_layer("feed_forward.w3.weight", {H, D});
  }
  if (!c.shared_classifier) add("output.weight", {V, D});
  if (at != file_size)
    throw FormatError(fmt::format(
        "'{}': the header (version {}, dim {}, hidden_dim {}, n_layers {}, n_heads {}, "
        "n_kv_heads {}, vocab_size {}, seq_len {}, {} head) implies {} bytes but the file has {}",
        name, c.version, c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size,
        c.seq_len, c.shared_classifier ? "tied" : "untied", at, file_size));
  return layout;
}

namespace detail {

template <class ReadAt>
Llama2cCheckpoint read_llama2c(const Llama2cLayout& layout, ReadAt read_at) {
  Llama2cCheckpoint ckpt;
  ckpt.config = layout.config;
  for (const auto& t : layout.tensors) {
    std::vector<float> values(static_cast<std::size_t>(t.numel()));
    read_at(t.offset, reinterpret_cast<char*>(values.data()), values.size() * sizeof(float));
    ckpt.tensors.emplace(t.name, std::move(values));
    ckpt.shapes.emplace(t.name, t.shape);
  }
  return ckpt;
}

}  // namespace detail

// A checkpoint held in memory (tests, fuzzing).
inline Llama2cCheckpoint read_llama2c_checkpoint(std::string_view bytes, const std::string& name) {
  const auto layout =
      llama2c_layout(bytes.substr(0, detail::kLlama2cV1HeaderBytes), bytes.size(), name);
  return detail::read_llama2c(layout, [&](uint64_t offset, char* dst, std::size_t n) {
    std::memcpy(dst, bytes.data() + offset, n);
  });
}

inline Llama2cCheckpoint read_llama2c_checkpoint(const std::filesystem::path& path) {
  const auto size = file_size_checked(path);
  const auto head =
      read_file_range(path, 0, std::min<uint64_t>(size, detail::kLlama2cV1HeaderBytes));
  const auto layout = llama2c_layout({head.data(), head.size()}, size, path.string());
  std::ifstream is(path, std::ios::binary);
  GFNLM_CHECK(is.good(), "cannot open '{}'", path.string());
  return detail::read_llama2c(layout, [&](uint64_t offset, char* dst, std::size_t n) {
    is.seekg(static_cast<std::streamoff>(offset));
    is.read(dst, static_cast<std::streamsize>(n));
    GFNLM_CHECK(is.gcount() == static_cast<std::streamsize>(n),
                "'{}': short read at offset {} (file changed while reading?)", path.string(),
                offset);
  });
}

}  // namespace gfnlm
