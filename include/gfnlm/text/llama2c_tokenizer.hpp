#pragma once
// The llama2.c tokenizer file (Karpathy's llama2.c, tokenizer.bin / tok512.bin): a
// sentencepiece-style vocabulary flattened to
//     int32 max_token_length, then per token: float32 score, int32 length, `length` bytes.
// The file does not store the vocabulary size; tokens run to the end of the file.
//
// Encoding follows llama2.c's encode(): a dummy space is prepended to non-empty text, each UTF-8
// character becomes its token (or its bytes' "<0xHH>" tokens when it has none), then the adjacent
// pair whose concatenation is a token with the highest score is merged until none is left.
// BOS = 1 and EOS = 2 by the llama2.c convention; encode() adds neither.
#include <gfnlm/core/error.hpp>
#include <gfnlm/io/byte_reader.hpp>
#include <gfnlm/text/tokenizer.hpp>
#include <gfnlm/text/utf8.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gfnlm {

class Llama2cTokenizer {
 public:
  // expected_vocab_size: the model's vocab_size (checked when > 0).
  static Llama2cTokenizer from_bytes(std::string_view bytes, const std::string& name,
                                     int expected_vocab_size = -1) {
    Llama2cTokenizer t;
    ByteReader in(bytes, name);
    t.max_token_length_ = in.read<int32_t>("max_token_length");
    if (t.max_token_length_ <= 0 || t.max_token_length_ > (1 << 16))
      throw FormatError(
          fmt::format("'{}': max_token_length {} is not in [1, 65536]", name, t.max_token_length_));
    while (!in.at_end()) {
      const auto id = static_cast<int32_t>(t.pieces_.size());
      const auto field = fmt::format("token {}", id);
      const auto score = in.read<float>(field + " score");
      const auto len = in.read<int32_t>(field + " length");
      if (len < 0 || len > t.max_token_length_)
        throw FormatError(
            fmt::format("'{}': token {} has length {}, outside [0, {}] "
                        "(max_token_length)",
                        name, id, len, t.max_token_length_));
      const auto piece = in.read_bytes(static_cast<std::size_t>(len), field + " bytes");
      if (!std::isfinite(score))
        throw FormatError(fmt::format("'{}': token {} has a non-finite score", name, id));
      if (const auto bad = utf8::find_invalid(piece); bad != std::string_view::npos)
        throw FormatError(fmt::format("'{}': token {} is not valid UTF-8 ({} at byte {})", name, id,
                                      utf8::describe(piece, bad), bad));
      t.add(std::string(piece), score);
    }
    if (expected_vocab_size > 0 && t.vocab_size() != expected_vocab_size)
      throw FormatError(fmt::format("'{}' holds {} tokens but the model's vocab_size is {}", name,
                                    t.vocab_size(), expected_vocab_size));
    if (t.vocab_size() == 0) throw FormatError(fmt::format("'{}' holds no tokens", name));
    return t;
  }

  static Llama2cTokenizer from_file(const std::filesystem::path& path,
                                    int expected_vocab_size = -1) {
    const auto bytes = read_file_bytes(path, std::uint64_t(1) << 30);
    return from_bytes(std::string_view(bytes.data(), bytes.size()), path.string(),
                      expected_vocab_size);
  }

  std::vector<int32_t> encode(std::string_view text) const {
    std::vector<int32_t> ids;
    if (text.empty()) return ids;
    push_text(" ", 0, ids);  // the dummy prefix sentencepiece adds (add_dummy_prefix)
    for (std::size_t pos = 0; pos < text.size();) {
      auto n = utf8::char_length(text, pos);
      if (n == 0) n = 1;  // an invalid byte goes through byte fallback alone
      push_text(text.substr(pos, n), pos, ids);
      pos += n;
    }
    // Merge the best-scoring pair until no adjacent pair forms a token (llama2.c's loop; ties go
    // to the leftmost pair).
    std::string merged;
    while (ids.size() > 1) {
      float best_score = -INFINITY;
      int32_t best_id = -1;
      std::size_t best_at = 0;
      for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
        merged = pieces_[ids[i]];
        merged += pieces_[ids[i + 1]];
        const auto it = ids_.find(merged);
        if (it != ids_.end() && (best_id < 0 || scores_[it->second] > best_score))
          best_score = scores_[it->second], best_id = it->second, best_at = i;
      }
      if (best_id < 0) break;
      ids[best_at] = best_id;
      ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best_at) + 1);
    }
    return ids;
  }

  // Concatenates the tokens' bytes ("<0xHH>" tokens give their byte), drops BOS/EOS, and removes
  // the dummy space at the start of the text, so decode(encode(s)) == s.
  std::string decode(std::span<const int32_t> ids) const {
    std::string out;
    bool at_start = true;
    for (const auto id : ids) {
      check_id(id);
      if (id == bos_id() || id == eos_id()) continue;
      std::string_view piece = text_of_[id];
      if (at_start && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
      at_start = false;
      out += piece;
    }
    return out;
  }

  // The bytes a token stands for (a byte token gives its byte; BOS gives "\n<s>\n" as stored).
  std::string token_text(int32_t id) const {
    check_id(id);
    return text_of_[id];
  }
  // The stored piece, e.g. "<0x0A>" for a byte token.
  const std::string& piece(int32_t id) const {
    check_id(id);
    return pieces_[id];
  }
  float score(int32_t id) const {
    check_id(id);
    return scores_[id];
  }
  int32_t token_id(std::string_view piece) const {
    const auto it = ids_.find(std::string(piece));
    return it == ids_.end() ? -1 : it->second;
  }
  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  int max_token_length() const { return max_token_length_; }
  int32_t bos_id() const { return vocab_size() > 1 ? 1 : -1; }
  int32_t eos_id() const { return vocab_size() > 2 ? 2 : -1; }

 private:
  void add(std::string piece, float score) {
    const auto id = static_cast<int32_t>(pieces_.size());
    std::string text = piece;
    // "<0xHH>" (upper-case hex, as sentencepiece writes it) is the byte 0xHH.
    if (piece.size() == 6 && piece.compare(0, 3, "<0x") == 0 && piece[5] == '>') {
      auto hex = [](char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      };
      const int hi = hex(piece[3]), lo = hex(piece[4]);
      if (hi >= 0 && lo >= 0) {
        const auto byte = static_cast<unsigned char>(hi * 16 + lo);
        text = std::string(1, static_cast<char>(byte));
        if (byte_id_[byte] < 0) byte_id_[byte] = id;
      }
    }
    ids_.emplace(piece, id);  // duplicates keep the first id, as a stable lookup must
    pieces_.push_back(std::move(piece));
    text_of_.push_back(std::move(text));
    scores_.push_back(score);
  }

  void push_text(std::string_view ch, std::size_t pos, std::vector<int32_t>& ids) const {
    if (const auto it = ids_.find(std::string(ch)); it != ids_.end()) {
      ids.push_back(it->second);
      return;
    }
    for (const char c : ch) {
      const auto byte = static_cast<unsigned char>(c);
      GFNLM_CHECK(byte_id_[byte] >= 0,
                  "Llama2cTokenizer: cannot encode {} at byte {}: no such token and no <0x{:02X}> "
                  "byte token",
                  utf8::describe(ch, 0), pos, byte);
      ids.push_back(byte_id_[byte]);
    }
  }

  void check_id(int32_t id) const {
    GFNLM_CHECK(id >= 0 && id < vocab_size(), "Llama2cTokenizer: token id {} out of range [0, {})",
                id, vocab_size());
  }

  std::vector<std::string> pieces_;   // as stored
  std::vector<std::string> text_of_;  // bytes each token stands for
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> ids_;
  std::array<int32_t, 256> byte_id_ = filled(-1);
  int32_t max_token_length_ = 0;

  static std::array<int32_t, 256> filled(int32_t v) {
    std::array<int32_t, 256> a;
    a.fill(v);
    return a;
  }
};

static_assert(Tokenizer<Llama2cTokenizer>);

}  // namespace gfnlm
