#pragma once
// ByteTokenizer: ids 0..255 are the bytes themselves, then optional special tokens (ids 256..).
// Any byte string encodes, so it suits models over arbitrary text without a vocabulary file.
// Special tokens are matched literally in the text, as in CharTokenizer.
#include <gfnlm/core/error.hpp>
#include <gfnlm/text/tokenizer.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gfnlm {

class ByteTokenizer {
 public:
  explicit ByteTokenizer(std::vector<std::string> specials = {}) : specials_(std::move(specials)) {
    for (std::size_t i = 0; i < specials_.size(); ++i) {
      GFNLM_CHECK(!specials_[i].empty(), "ByteTokenizer: special token {} is empty", i);
      for (std::size_t j = 0; j < i; ++j)
        GFNLM_CHECK(specials_[j] != specials_[i], "ByteTokenizer: special token '{}' given twice",
                    specials_[i]);
    }
    // Longest first when matching, so a special that is a prefix of another does not shadow it.
    for (std::size_t i = 0; i < specials_.size(); ++i) order_.push_back(i);
    std::stable_sort(order_.begin(), order_.end(), [&](std::size_t a, std::size_t b) {
      return specials_[a].size() > specials_[b].size();
    });
  }

  std::vector<int32_t> encode(std::string_view text) const {
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
      bool matched = false;
      for (const auto i : order_) {
        if (text.compare(pos, specials_[i].size(), specials_[i]) == 0) {
          ids.push_back(static_cast<int32_t>(256 + i));
          pos += specials_[i].size();
          matched = true;
          break;
        }
      }
      if (!matched) ids.push_back(static_cast<unsigned char>(text[pos++]));
    }
    return ids;
  }

  std::string decode(std::span<const int32_t> ids) const {
    std::string out;
    for (const auto id : ids) out += token_text(id);
    return out;
  }

  std::string token_text(int32_t id) const {
    GFNLM_CHECK(id >= 0 && id < vocab_size(), "ByteTokenizer: token id {} out of range [0, {})", id,
                vocab_size());
    return id < 256 ? std::string(1, static_cast<char>(id)) : specials_[id - 256];
  }
  int vocab_size() const { return 256 + static_cast<int>(specials_.size()); }
  int32_t special_id(std::string_view name) const {
    for (std::size_t i = 0; i < specials_.size(); ++i)
      if (specials_[i] == name) return static_cast<int32_t>(256 + i);
    return -1;
  }
  int32_t bos_id() const {
    const auto id = special_id("<bos>");
    return id >= 0 ? id : special_id("<s>");
  }
  int32_t eos_id() const {
    const auto id = special_id("<eos>");
    return id >= 0 ? id : special_id("</s>");
  }

 private:
  std::vector<std::string> specials_;
  std::vector<std::size_t> order_;
};

static_assert(Tokenizer<ByteTokenizer>);

}  // namespace gfnlm
