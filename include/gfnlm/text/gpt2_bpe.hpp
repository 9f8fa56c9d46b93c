#pragma once
// GPT-2 byte-level BPE (Radford et al. 2019; OpenAI's encoder.py), loaded from Hugging Face
// `vocab.json` + `merges.txt` or OpenAI's `encoder.json` + `vocab.bpe` (the same formats).
//
// Text -> pre-tokens (gpt2_pretokenize.hpp) -> UTF-8 bytes -> BPE merges by rank inside each
// pre-token -> ids. The vocabulary's keys spell bytes through GPT-2's printable byte alphabet
// (bytes_to_unicode: space is "Ġ", newline "Ċ"); we translate them to raw bytes once at load
// time, so decoding is a concatenation and any byte string round-trips.
//
// Special tokens such as "<|endoftext|>" are not recognised inside text (as in the reference
// encoder): callers append eos_id() themselves.
#include <gfnlm/core/error.hpp>
#include <gfnlm/text/gpt2_pretokenize.hpp>
#include <gfnlm/text/tokenizer.hpp>
#include <gfnlm/text/utf8.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <queue>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gfnlm {

namespace detail {

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes map to themselves, the other 68 bytes to
// U+0100.. in byte order. Returns byte -> code point.
inline std::array<char32_t, 256> gpt2_byte_alphabet() {
  std::array<char32_t, 256> map{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    map[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return map;
}

inline std::string read_text_file(const std::filesystem::path& path, const char* what) {
  std::ifstream is(path, std::ios::binary);
  GFNLM_CHECK(is.good(), "cannot open {} '{}'", what, path.string());
  std::ostringstream ss;
  ss << is.rdbuf();
  return std::move(ss).str();
}

// The merge table of a BPE vocabulary and the one merge loop gfnlm's BPE tokenizers share
// (Gpt2Bpe, HfTokenizer): (left id, right id) -> (rank, merged id).
class BpeMerges {
 public:
  // A repeated pair takes its last rank, as the dict OpenAI's encoder.py builds and the map
  // Hugging Face tokenizers builds do.
  void add(int32_t left, int32_t right, int32_t merged, int32_t rank) {
    map_.insert_or_assign(key(left, right), Merge{rank, merged});
  }
  std::size_t size() const { return map_.size(); }

  // Merges `word` (token ids) in place: repeatedly the adjacent pair of lowest rank, the leftmost
  // of equals, until no adjacent pair has a merge. This is Hugging Face tokenizers'
  // Word::merge_all (a heap of candidate pairs, O(n log n)); OpenAI's bpe(), which merges every
  // occurrence of the best pair in one sweep, gives the same result wherever each merge's parts
  // are made by earlier merges (as in every trained merges file).
  void apply(std::vector<int32_t>& word) const {
    const auto n = word.size();
    if (n < 2) return;
    struct Candidate {
      int32_t rank;
      std::size_t pos;
      int32_t merged;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
      }
    };
    // Symbols as a linked list over positions; a merged-away symbol is marked dead.
    std::vector<std::ptrdiff_t> prev(n), next(n);
    std::vector<bool> dead(n, false);
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    for (std::size_t i = 0; i < n; ++i) {
      prev[i] = static_cast<std::ptrdiff_t>(i) - 1;
      next[i] = i + 1 < n ? static_cast<std::ptrdiff_t>(i + 1) : -1;
      if (i + 1 < n)
        if (const auto* m = find(word[i], word[i + 1])) heap.push({m->rank, i, m->merged});
    }
    while (!heap.empty()) {
      const auto top = heap.top();
      heap.pop();
      if (dead[top.pos] || next[top.pos] < 0) continue;
      const auto right = static_cast<std::size_t>(next[top.pos]);
      const auto* m = find(word[top.pos], word[right]);
      if (!m || m->merged != top.merged) continue;  // stale: a neighbour has changed since
      word[top.pos] = top.merged;
      dead[right] = true;
      next[top.pos] = next[right];
      if (next[right] >= 0)
        prev[static_cast<std::size_t>(next[right])] = static_cast<std::ptrdiff_t>(top.pos);
      if (prev[top.pos] >= 0) {
        const auto left = static_cast<std::size_t>(prev[top.pos]);
        if (const auto* lm = find(word[left], word[top.pos]))
          heap.push({lm->rank, left, lm->merged});
      }
      if (next[top.pos] >= 0)
        if (const auto* rm = find(word[top.pos], word[static_cast<std::size_t>(next[top.pos])]))
          heap.push({rm->rank, top.pos, rm->merged});
    }
    std::size_t out = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (!dead[i]) word[out++] = word[i];
    word.resize(out);
  }

 private:
  struct Merge {
    int32_t rank, merged;
  };
  static uint64_t key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  const Merge* find(int32_t a, int32_t b) const {
    const auto it = map_.find(key(a, b));
    return it == map_.end() ? nullptr : &it->second;
  }
  std::unordered_map<uint64_t, Merge> map_;
};

}  // namespace detail

class Gpt2Bpe {
 public:
  // vocab_json: {"token": id, ...}; merges: "#version" line(s), then "a b" per line, best first.
  // The names are used in error messages only.
  static Gpt2Bpe from_strings(std::string_view vocab_json, std::string_view merges,
                              const std::string& vocab_name = "vocab.json",
                              const std::string& merges_name = "merges.txt") {
    Gpt2Bpe t;
    t.load_vocab(vocab_json, vocab_name);
    t.load_merges(merges, merges_name);
    return t;
  }

  static Gpt2Bpe from_files(const std::filesystem::path& vocab_json,
                            const std::filesystem::path& merges) {
    const auto vocab_text = detail::read_text_file(vocab_json, "GPT-2 vocabulary");
    const auto merges_text = detail::read_text_file(merges, "GPT-2 merges file");
    return from_strings(vocab_text, merges_text, vocab_json.string(), merges.string());
  }

  // A folder holding vocab.json + merges.txt (Hugging Face) or encoder.json + vocab.bpe (OpenAI).
  static Gpt2Bpe from_directory(const std::filesystem::path& dir) {
    for (const auto& [v, m] :
         {std::pair{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}})
      if (std::filesystem::exists(dir / v) && std::filesystem::exists(dir / m))
        return from_files(dir / v, dir / m);
    fail("'{}' holds neither vocab.json + merges.txt nor encoder.json + vocab.bpe", dir.string());
  }

  std::vector<int32_t> encode(std::string_view text) const {
    std::vector<int32_t> ids;
    std::vector<int32_t> word;
    for (const auto piece : gpt2_pretokenize(text)) {
      bpe(piece, word);
      ids.insert(ids.end(), word.begin(), word.end());
    }
    return ids;
  }

  std::string decode(std::span<const int32_t> ids) const {
    std::string out;
    for (const auto id : ids) out += piece(id);
    return out;
  }

  std::string token_text(int32_t id) const { return piece(id); }
  int vocab_size() const { return static_cast<int>(tokens_.size()); }
  int merge_count() const { return static_cast<int>(merges_.size()); }
  // GPT-2 uses "<|endoftext|>" both to start and to end documents.
  int32_t bos_id() const { return token_id("<|endoftext|>"); }
  int32_t eos_id() const { return token_id("<|endoftext|>"); }

  // Id of a token given by its raw bytes, or -1.
  int32_t token_id(std::string_view bytes) const {
    const auto it = ids_.find(std::string(bytes));
    return it == ids_.end() ? -1 : it->second;
  }

 private:
  // Translates a vocabulary/merges spelling (GPT-2 byte alphabet) to raw bytes.
  bool unmap(std::string_view spelled, std::string& bytes) const {
    bytes.clear();
    for (std::size_t pos = 0; pos < spelled.size();) {
      char32_t cp = 0;
      const auto n = utf8::char_length(spelled, pos, &cp);
      if (n == 0) return false;
      const auto it = byte_of_.find(cp);
      if (it == byte_of_.end()) return false;
      bytes += static_cast<char>(it->second);
      pos += n;
    }
    return true;
  }

  void load_vocab(std::string_view text, const std::string& name) {
    const auto alphabet = detail::gpt2_byte_alphabet();
    for (int b = 0; b < 256; ++b) byte_of_.emplace(alphabet[b], static_cast<unsigned char>(b));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(fmt::format("'{}': not valid JSON: {}", name, e.what()));
    }
    if (!j.is_object())
      throw FormatError(fmt::format("'{}': expected a JSON object token -> id", name));
    const std::size_t n = j.size();
    tokens_.assign(n, {});
    std::vector<bool> seen(n, false);
    std::string bytes;
    for (const auto& [key, value] : j.items()) {
      if (!value.is_number_integer())
        throw FormatError(fmt::format("'{}': token '{}' has a non-integer id", name, key));
      const auto id = value.get<int64_t>();
      if (id < 0 || id >= static_cast<int64_t>(n) || seen[id])
        throw FormatError(
            fmt::format("'{}': token '{}' has id {}; ids must be distinct and within [0, {})", name,
                        key, id, n));
      seen[id] = true;
      // Special tokens ("<|endoftext|>") are spelled in plain text; everything else in the byte
      // alphabet. A key outside that alphabet is taken literally (its UTF-8 bytes).
      if (!unmap(key, bytes)) bytes = key;
      if (!ids_.emplace(bytes, static_cast<int32_t>(id)).second)
        throw FormatError(
            fmt::format("'{}': token '{}' spells the same bytes as another token", name, key));
      tokens_[id] = bytes;
    }
    for (int b = 0; b < 256; ++b) {
      const auto it = ids_.find(std::string(1, static_cast<char>(b)));
      if (it == ids_.end())
        throw FormatError(fmt::format(
            "'{}': no token for byte 0x{:02X}; a byte-level vocabulary needs all 256", name, b));
      byte_id_[b] = it->second;
    }
  }

  void load_merges(std::string_view text, const std::string& name) {
    const auto bad = utf8::find_invalid(text);
    if (bad != std::string_view::npos)
      throw FormatError(fmt::format("'{}': invalid UTF-8 at byte {}", name, bad));
    std::size_t lineno = 0;
    std::string a, b;
    while (!text.empty()) {
      ++lineno;
      const auto eol = text.find('\n');
      auto line = text.substr(0, eol);
      text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || line.rfind("#version", 0) == 0) continue;
      const auto sp = line.find(' ');
      if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size() ||
          line.find(' ', sp + 1) != std::string_view::npos)
        throw FormatError(
            fmt::format("'{}' line {}: expected 'left right', got '{}'", name, lineno, line));
      const auto left = line.substr(0, sp), right = line.substr(sp + 1);
      if (!unmap(left, a) || !unmap(right, b))
        throw FormatError(
            fmt::format("'{}' line {}: '{}' uses characters outside GPT-2's byte alphabet", name,
                        lineno, line));
      const auto ia = ids_.find(a), ib = ids_.find(b), im = ids_.find(a + b);
      if (ia == ids_.end() || ib == ids_.end() || im == ids_.end())
        throw FormatError(
            fmt::format("'{}' line {}: merge '{}' refers to a token missing from the vocabulary",
                        name, lineno, line));
      merges_.add(ia->second, ib->second, im->second, static_cast<int32_t>(lineno));
    }
  }

  // Bytes -> byte tokens, then the merges (detail::BpeMerges::apply).
  void bpe(std::string_view piece, std::vector<int32_t>& word) const {
    word.clear();
    for (const char c : piece) word.push_back(byte_id_[static_cast<unsigned char>(c)]);
    merges_.apply(word);
  }

  const std::string& piece(int32_t id) const {
    GFNLM_CHECK(id >= 0 && id < vocab_size(), "Gpt2Bpe: token id {} out of range [0, {})", id,
                vocab_size());
    return tokens_[id];
  }

  std::vector<std::string> tokens_;               // id -> raw bytes
  std::unordered_map<std::string, int32_t> ids_;  // raw bytes -> id
  detail::BpeMerges merges_;                      // (left id, right id) -> rank, merged id
  std::unordered_map<char32_t, unsigned char> byte_of_;
  std::array<int32_t, 256> byte_id_{};
};

static_assert(Tokenizer<Gpt2Bpe>);

}  // namespace gfnlm
