#pragma once
// CharTokenizer: one id per character of an alphabet (UTF-8 characters; plain bytes for ASCII),
// plus optional special tokens such as "<eos>". The examples' small models and the tasks with
// small action spaces (uniform integers, arithmetic) use it: with alphabet "0123456789" and
// special "<eos>", ids 0..9 are the digits and 10 is EOS.
//
// Ids: alphabet characters first, in the order given, then the special tokens in the order given.
// Encoding matches a special token's text literally where it occurs in the input (specials win
// over alphabet characters), so encode(decode(ids)) == ids for every id sequence whose specials
// do not collide with alphabet text.
#include <gfnlm/core/atomic_file.hpp>
#include <gfnlm/core/error.hpp>
#include <gfnlm/text/tokenizer.hpp>
#include <gfnlm/text/utf8.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <map>
#include <ostream>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gfnlm {

class CharTokenizer {
 public:
  CharTokenizer() = default;

  // alphabet: the characters, each once (UTF-8). specials: tokens such as "<bos>", "<eos>",
  // "<pad>"; non-empty, distinct, no whitespace (they are stored one per line).
  explicit CharTokenizer(std::string_view alphabet, std::vector<std::string> specials = {}) {
    const auto bad = utf8::find_invalid(alphabet);
    GFNLM_CHECK(bad == std::string_view::npos,
                "CharTokenizer: alphabet is not valid UTF-8 ({} at byte {})",
                utf8::describe(alphabet, bad), bad);
    for (std::size_t pos = 0; pos < alphabet.size();) {
      const auto n = utf8::char_length(alphabet, pos);
      add_piece(std::string(alphabet.substr(pos, n)), false);
      pos += n;
    }
    for (auto& s : specials) add_piece(std::move(s), true);
  }

  // Alphabet = the distinct characters of the corpus, in code-point order.
  static CharTokenizer from_corpus(std::string_view corpus,
                                   std::vector<std::string> specials = {}) {
    return from_corpus(std::span<const std::string_view>(&corpus, 1), std::move(specials));
  }
  static CharTokenizer from_corpus(std::span<const std::string> texts,
                                   std::vector<std::string> specials = {}) {
    std::vector<std::string_view> views(texts.begin(), texts.end());
    return from_corpus(std::span<const std::string_view>(views), std::move(specials));
  }
  static CharTokenizer from_corpus(std::span<const std::string_view> texts,
                                   std::vector<std::string> specials = {}) {
    std::set<std::string> chars;  // UTF-8 byte order == code-point order
    for (std::size_t t = 0; t < texts.size(); ++t) {
      const auto text = texts[t];
      const auto bad = utf8::find_invalid(text);
      GFNLM_CHECK(bad == std::string_view::npos,
                  "CharTokenizer::from_corpus: text {} is not valid UTF-8 ({} at byte {})", t,
                  utf8::describe(text, bad), bad);
      for (std::size_t pos = 0; pos < text.size();) {
        const auto n = utf8::char_length(text, pos);
        chars.emplace(text.substr(pos, n));
        pos += n;
      }
    }
    std::string alphabet;
    for (const auto& c : chars) alphabet += c;
    return CharTokenizer(alphabet, std::move(specials));
  }

  std::vector<int32_t> encode(std::string_view text) const {
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
      if (const auto [id, len] = match_special(text, pos); id >= 0) {
        ids.push_back(id);
        pos += len;
        continue;
      }
      const auto n = utf8::char_length(text, pos);
      GFNLM_CHECK(n > 0, "CharTokenizer::encode: invalid UTF-8 ({}) at byte {} of the input",
                  utf8::describe(text, pos), pos);
      const auto it = char_ids_.find(std::string(text.substr(pos, n)));
      GFNLM_CHECK(it != char_ids_.end(),
                  "CharTokenizer::encode: character {} at byte {} is not in the alphabet ({} "
                  "characters)",
                  utf8::describe(text, pos), pos, n_chars_);
      ids.push_back(it->second);
      pos += n;
    }
    return ids;
  }

  std::string decode(std::span<const int32_t> ids) const {
    std::string out;
    for (const auto id : ids) out += piece(id);
    return out;
  }

  std::string token_text(int32_t id) const { return piece(id); }
  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  int alphabet_size() const { return n_chars_; }
  bool is_special(int32_t id) const { return id >= n_chars_ && id < vocab_size(); }

  // Id of a character or special token's text, or -1 if absent.
  int32_t token_id(std::string_view text) const {
    const auto it = ids_.find(std::string(text));
    return it == ids_.end() ? -1 : it->second;
  }
  int32_t bos_id() const { return special_id({"<bos>", "<s>"}); }
  int32_t eos_id() const { return special_id({"<eos>", "</s>"}); }
  int32_t pad_id() const { return special_id({"<pad>"}); }

  // Text form: a header line, then one token per line in id order: "c <hex bytes>" for an
  // alphabet character (hex keeps whitespace characters unambiguous), "s <text>" for a special.
  void save(std::ostream& os) const {
    os << kMagic << '\n';
    for (int32_t id = 0; id < vocab_size(); ++id) {
      if (is_special(id)) {
        os << "s " << pieces_[id] << '\n';
      } else {
        os << 'c';
        for (const char b : pieces_[id])
          os << fmt::format(" {:02x}", static_cast<unsigned char>(b));
        os << '\n';
      }
    }
  }
  void save(const std::filesystem::path& path) const {
    write_file_atomically(path, [&](std::ostream& os) { save(os); });
  }

  // `source` names the stream in error messages.
  static CharTokenizer load(std::istream& is, const std::string& source = "<stream>") {
    std::string line;
    GFNLM_CHECK(std::getline(is, line) && line == kMagic,
                "'{}' is not a CharTokenizer file: first line must be '{}'", source, kMagic);
    std::string alphabet;
    std::vector<std::string> specials;
    for (int lineno = 2; std::getline(is, line); ++lineno) {
      if (line.empty()) continue;
      if (line.rfind("s ", 0) == 0) {
        specials.push_back(line.substr(2));
      } else if (line.rfind("c ", 0) == 0) {
        GFNLM_CHECK(specials.empty(), "'{}' line {}: alphabet character after a special token",
                    source, lineno);
        std::istringstream hex(line.substr(2));
        std::string byte, ch;
        while (hex >> byte) {
          unsigned value = 0;
          std::size_t used = 0;
          try {
            value = std::stoul(byte, &used, 16);
          } catch (const std::exception&) {
            used = 0;
          }
          GFNLM_CHECK(used == byte.size() && byte.size() == 2 && value < 256,
                      "'{}' line {}: '{}' is not a hex byte", source, lineno, byte);
          ch += static_cast<char>(value);
        }
        GFNLM_CHECK(!ch.empty() && utf8::char_length(ch, 0) == ch.size(),
                    "'{}' line {}: bytes do not form one UTF-8 character", source, lineno);
        alphabet += ch;
      } else {
        fail("'{}' line {}: expected 'c <hex bytes>' or 's <special>', got '{}'", source, lineno,
             line);
      }
    }
    try {
      return CharTokenizer(alphabet, std::move(specials));
    } catch (const Error& e) {
      fail("'{}': {}", source, e.what());
    }
  }
  static CharTokenizer load(const std::filesystem::path& path) {
    std::ifstream is(path, std::ios::binary);
    GFNLM_CHECK(is.good(), "cannot open CharTokenizer file '{}'", path.string());
    return load(is, path.string());
  }

 private:
  static constexpr const char* kMagic = "gfnlm-char-tokenizer 1";

  void add_piece(std::string piece, bool special) {
    const auto id = static_cast<int32_t>(pieces_.size());
    if (special) {
      GFNLM_CHECK(!piece.empty(), "CharTokenizer: special token {} is empty", specials_.size());
      GFNLM_CHECK(utf8::is_valid(piece), "CharTokenizer: special token is not valid UTF-8");
      GFNLM_CHECK(
          std::none_of(piece.begin(), piece.end(),
                       [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }),
          "CharTokenizer: special token '{}' contains whitespace", piece);
      GFNLM_CHECK(!ids_.count(piece),
                  "CharTokenizer: special token '{}' given twice or equal to "
                  "an alphabet character",
                  piece);
      specials_.emplace_back(piece, id);
      // Longest first, so "<eos>" is not shadowed by a shorter special that is its prefix.
      std::stable_sort(specials_.begin(), specials_.end(), [](const auto& a, const auto& b) {
        return a.first.size() > b.first.size();
      });
    } else {
      GFNLM_CHECK(!ids_.count(piece), "CharTokenizer: alphabet lists character {} twice",
                  utf8::describe(piece, 0));
      char_ids_.emplace(piece, id);
      ++n_chars_;
    }
    ids_.emplace(piece, id);
    pieces_.push_back(std::move(piece));
  }

  std::pair<int32_t, std::size_t> match_special(std::string_view text, std::size_t pos) const {
    for (const auto& [s, id] : specials_)
      if (text.compare(pos, s.size(), s) == 0) return {id, s.size()};
    return {-1, 0};
  }

  const std::string& piece(int32_t id) const {
    GFNLM_CHECK(id >= 0 && id < vocab_size(), "CharTokenizer: token id {} out of range [0, {})", id,
                vocab_size());
    return pieces_[id];
  }

  int32_t special_id(std::initializer_list<std::string_view> names) const {
    for (const auto name : names)
      for (const auto& [s, id] : specials_)
        if (s == name) return id;
    return -1;
  }

  std::vector<std::string> pieces_;                        // id -> text
  std::unordered_map<std::string, int32_t> ids_;           // text -> id (chars and specials)
  std::unordered_map<std::string, int32_t> char_ids_;      // alphabet only
  std::vector<std::pair<std::string, int32_t>> specials_;  // longest first
  int n_chars_ = 0;
};

static_assert(Tokenizer<CharTokenizer>);

}  // namespace gfnlm
