#pragma once
// The embedded base model's vocabulary (issue 6; docs/arithmetic.md): word-level, so that a
// number, an operator or "The answer is" is one token, as small numbers are single tokens in
// GPT-J's BPE. With characters, copying an operand or a result is a multi-step job for a small
// model; with words it is one attention lookup, which the base needs to learn "The answer is
// <last result>" and "the next step copies the next operand" (what makes log p_base a useful
// reward, SPEC section 5).
//
// A token is a piece of text with its leading space, so decode is concatenation and the texts of
// problem.hpp read exactly as written: "Question:", " 6", " -", " =", " ?", " Answer:", ",",
// ".", " The answer is", " -6", "\n". Numbers -99..99 are single tokens; the digits "0".."9"
// (no space) let encode express any larger integer (" 150" = " 15" "0") that a policy's wild
// step can make the calculator print. encode matches the longest piece at each position
// (" -6" before " -"), so encode(decode(ids)) == ids for the texts the task writes.
#include <gfnlm/core/error.hpp>
#include <gfnlm/text/tokenizer.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gfnlm::arithmetic {

class ArithmeticTokenizer {
 public:
  static constexpr int kMaxNumber = 99;

  ArithmeticTokenizer() {
    for (const char* w :
         {"\n", "Question:", " Answer:", " The answer is", " =", " ?", " +", " -", ",", "."})
      add(w);
    for (int n = -kMaxNumber; n <= kMaxNumber; ++n) add(fmt::format(" {}", n));
    for (char d = '0'; d <= '9'; ++d) add(std::string(1, d));
  }

  std::vector<int32_t> encode(std::string_view text) const {
    std::vector<int32_t> ids;
    for (std::size_t pos = 0; pos < text.size();) {
      bool found = false;
      for (std::size_t n = std::min(max_len_, text.size() - pos); n > 0 && !found; --n) {
        const auto it = ids_.find(std::string(text.substr(pos, n)));
        if (it == ids_.end()) continue;
        ids.push_back(it->second);
        pos += n;
        found = true;
      }
      GFNLM_CHECK(found, "ArithmeticTokenizer::encode: no token matches at byte {} of '{}'", pos,
                  text);
    }
    return ids;
  }

  std::string decode(std::span<const int32_t> ids) const {
    std::string out;
    for (const auto id : ids) out += token_text(id);
    return out;
  }

  std::string token_text(int32_t id) const {
    GFNLM_CHECK(id >= 0 && id < vocab_size(), "ArithmeticTokenizer: id {} outside [0, {})", id,
                vocab_size());
    return pieces_[static_cast<std::size_t>(id)];
  }
  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  int32_t bos_id() const { return -1; }
  int32_t eos_id() const { return -1; }

  // Id of a piece's exact text, or -1.
  int32_t token_id(std::string_view piece) const {
    const auto it = ids_.find(std::string(piece));
    return it == ids_.end() ? -1 : it->second;
  }

 private:
  void add(std::string piece) {
    max_len_ = std::max(max_len_, piece.size());
    ids_.emplace(piece, static_cast<int32_t>(pieces_.size()));
    pieces_.push_back(std::move(piece));
  }

  std::vector<std::string> pieces_;
  std::unordered_map<std::string, int32_t> ids_;
  std::size_t max_len_ = 0;
};

static_assert(Tokenizer<ArithmeticTokenizer>);

}  // namespace gfnlm::arithmetic
