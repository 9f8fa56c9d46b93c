#pragma once
// The stages of a Hugging Face tokenizer.json around its BPE model that HfTokenizer supports,
// each parsed from its JSON object and applied as the `tokenizers` library (Rust) applies it:
//   normalizer     Sequence, Prepend, Replace (a String pattern)
//   pre_tokenizer  Sequence, ByteLevel, Metaspace, Split with GPT-2's or Llama-3's regex
//                  (behavior Isolated, not inverted)
//   decoder        Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace (String), Metaspace
// Anything else is rejected when the file is loaded, with an error naming it: gfnlm has no
// regex engine and no Unicode normalisation tables (NFC, NFKC, Lowercase).
#include <gfnlm/core/error.hpp>
#include <gfnlm/text/gpt2_bpe.hpp>
#include <gfnlm/text/gpt2_pretokenize.hpp>
#include <gfnlm/text/hf_tokenizer/llama3_pretokenize.hpp>
#include <gfnlm/text/utf8.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gfnlm::detail::hf {

using nlohmann::json;

// GPT-2's pattern as tokenizers spells it (the ByteLevel pre-tokenizer's own regex).
inline constexpr std::string_view kGpt2SplitPattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

template <class... Args>
[[noreturn]] void bad(fmt::format_string<Args...> format, Args&&... args) {
  throw FormatError(fmt::format(format, std::forward<Args>(args)...));
}

// Typed reads of optional fields; `where` names the object in error messages ("'t.json' model").
inline bool get_bool(const json& j, const char* key, bool fallback, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) bad("{}: \"{}\" must be true or false, got {}", where, key, it->dump());
  return it->get<bool>();
}
inline std::optional<std::string> get_string(const json& j, const char* key,
                                             const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) bad("{}: \"{}\" must be a string, got {}", where, key, it->dump());
  return it->get<std::string>();
}
inline std::string need_string(const json& j, const char* key, const std::string& where) {
  auto s = get_string(j, key, where);
  if (!s) bad("{}: \"{}\" is missing", where, key);
  return *s;
}
inline std::string type_of(const json& j, const std::string& where) {
  if (!j.is_object()) bad("{}: expected an object, got {}", where, j.dump());
  return need_string(j, "type", where);
}
// A pattern {"String": s} (tokenizers' Replace and Split); a {"Regex": ...} is returned too, as
// the second member, for the caller to recognise or reject.
inline std::pair<std::optional<std::string>, std::optional<std::string>> pattern_of(
    const json& j, const std::string& where) {
  const auto it = j.find("pattern");
  if (it == j.end() || !it->is_object()) bad("{}: \"pattern\" must be an object", where);
  return {get_string(*it, "String", where + " pattern"),
          get_string(*it, "Regex", where + " pattern")};
}
// A single character given as a one-character string (Metaspace's replacement, Strip's content).
inline std::string one_char(const json& j, const char* key, const std::string& fallback,
                            const std::string& where) {
  const auto s = get_string(j, key, where).value_or(fallback);
  if (s.empty() || utf8::char_length(s, 0) != s.size())
    bad("{}: \"{}\" must be one character, got '{}'", where, key, s);
  return s;
}

inline void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  std::size_t pos = 0;
  for (auto hit = s.find(from); hit != std::string::npos; hit = s.find(from, pos)) {
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  if (pos == 0) return;
  out.append(s, pos);
  s.swap(out);
}

// Appends bytes as UTF-8, each invalid sequence (its longest valid-looking prefix, at least one
// byte) replaced by U+FFFD: Rust's String::from_utf8_lossy, which the ByteLevel decoder uses.
inline void append_lossy(std::string& out, std::string_view bytes) {
  for (std::size_t pos = 0; pos < bytes.size();) {
    if (const auto n = utf8::char_length(bytes, pos)) {
      out.append(bytes, pos, n);
      pos += n;
      continue;
    }
    const auto b0 = static_cast<unsigned char>(bytes[pos]);
    std::size_t need = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      need = 2, lo = b0 == 0xE0 ? 0xA0 : 0x80, hi = b0 == 0xED ? 0x9F : 0xBF;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      need = 3, lo = b0 == 0xF0 ? 0x90 : 0x80, hi = b0 == 0xF4 ? 0x8F : 0xBF;
    }
    std::size_t len = 1;
    for (std::size_t k = 1; k <= need && pos + k < bytes.size(); ++k) {
      const auto b = static_cast<unsigned char>(bytes[pos + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) break;
      len = k + 1;
    }
    out += "\xEF\xBF\xBD";
    pos += len;
  }
}

// GPT-2's byte alphabet both ways: byte -> its character's UTF-8, character -> byte.
struct ByteAlphabet {
  std::array<std::string, 256> chars;
  std::unordered_map<char32_t, unsigned char> bytes;
  static const ByteAlphabet& get() {
    static const ByteAlphabet a = [] {
      ByteAlphabet r;
      const auto map = gpt2_byte_alphabet();
      for (int b = 0; b < 256; ++b) {
        utf8::append(r.chars[b], map[b]);
        r.bytes.emplace(map[b], static_cast<unsigned char>(b));
      }
      return r;
    }();
    return a;
  }
  // The bytes a ByteLevel spelling stands for, or nullopt when a character is outside the
  // alphabet (the decoder then takes the token's own UTF-8, as tokenizers does).
  std::optional<std::string> unmap(std::string_view spelled) const {
    std::string out;
    for (std::size_t pos = 0; pos < spelled.size();) {
      char32_t cp = 0;
      const auto n = utf8::char_length(spelled, pos, &cp);
      const auto it = n ? bytes.find(cp) : bytes.end();
      if (it == bytes.end()) return std::nullopt;
      out += static_cast<char>(it->second);
      pos += n;
    }
    return out;
  }
};

// "<0xNN>" (hex digits of either case, as tokenizers' ByteFallback decoder reads them) -> byte.
inline int byte_token_value(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  auto hex = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
  };
  const int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// ---- normalizer -------------------------------------------------------------------------------

class Normalizer {
 public:
  static Normalizer parse(const json& j, const std::string& where) {
    Normalizer n;
    if (!j.is_null()) n.add(j, where);
    return n;
  }
  bool empty() const { return steps_.empty(); }

  std::string apply(std::string_view text) const {
    std::string s(text);
    for (const auto& st : steps_) {
      if (st.prepend) {
        if (!s.empty()) s.insert(0, st.text);  // tokenizers' Prepend leaves "" alone
      } else {
        replace_all(s, st.text, st.with);
      }
    }
    return s;
  }

 private:
  struct Step {
    bool prepend;
    std::string text, with;
  };
  void add(const json& j, const std::string& where) {
    const auto type = type_of(j, where);
    const auto here = fmt::format("{} {}", where, type);
    if (type == "Sequence") {
      const auto it = j.find("normalizers");
      if (it == j.end() || !it->is_array()) bad("{}: \"normalizers\" must be an array", here);
      for (const auto& sub : *it) add(sub, where);
    } else if (type == "Prepend") {
      steps_.push_back({true, need_string(j, "prepend", here), {}});
    } else if (type == "Replace") {
      const auto [str, regex] = pattern_of(j, here);
      if (!str)
        bad("{}: a Regex pattern ({}) is not supported, only a String one", here,
            regex.value_or("?"));
      if (str->empty()) bad("{}: the pattern is empty", here);
      steps_.push_back({false, *str, need_string(j, "content", here)});
    } else {
      bad("{}: normalizer type '{}' is not supported (Sequence, Prepend, Replace)", where, type);
    }
  }
  std::vector<Step> steps_;
};

// ---- pre-tokenizer ----------------------------------------------------------------------------

// A piece of text on its way to the model; at_origin: it starts at the start of the input (what
// Metaspace's prepend_scheme "first" asks).
struct Piece {
  std::string text;
  bool at_origin;
};

class PreTokenizer {
 public:
  static PreTokenizer parse(const json& j, const std::string& where) {
    PreTokenizer p;
    if (!j.is_null()) p.add(j, where);
    return p;
  }
  bool empty() const { return steps_.empty(); }
  // Whether a ByteLevel step maps the text to GPT-2's byte alphabet.
  bool byte_level() const {
    for (const auto& st : steps_)
      if (st.kind == Kind::byte_level) return true;
    return false;
  }

  void apply(std::vector<Piece>& pieces) const {
    std::vector<Piece> next;
    for (const auto& st : steps_) {
      next.clear();
      for (auto& piece : pieces) run(st, piece, next);
      pieces.swap(next);
    }
  }

 private:
  enum class Kind { byte_level, metaspace, split_gpt2, split_llama3 };
  enum class Prepend { always, first, never };
  struct Step {
    Kind kind;
    bool add_prefix_space = false, use_regex = true, split = false;
    std::string replacement;
    Prepend prepend = Prepend::always;
  };

  void add(const json& j, const std::string& where) {
    const auto type = type_of(j, where);
    const auto here = fmt::format("{} {}", where, type);
    Step st{};
    if (type == "Sequence") {
      const auto it = j.find("pretokenizers");
      if (it == j.end() || !it->is_array()) bad("{}: \"pretokenizers\" must be an array", here);
      for (const auto& sub : *it) add(sub, where);
      return;
    } else if (type == "ByteLevel") {
      st.kind = Kind::byte_level;
      st.add_prefix_space = get_bool(j, "add_prefix_space", true, here);
      st.use_regex = get_bool(j, "use_regex", true, here);
    } else if (type == "Metaspace") {
      st.kind = Kind::metaspace;
      st.replacement = one_char(j, "replacement", "\u2581", here);
      st.split = get_bool(j, "split", true, here);
      if (const auto scheme = get_string(j, "prepend_scheme", here)) {
        if (*scheme == "always")
          st.prepend = Prepend::always;
        else if (*scheme == "first")
          st.prepend = Prepend::first;
        else if (*scheme == "never")
          st.prepend = Prepend::never;
        else
          bad("{}: prepend_scheme '{}' is not one of always, first, never", here, *scheme);
      } else {  // tokenizers < 0.15: add_prefix_space
        st.prepend = get_bool(j, "add_prefix_space", true, here) ? Prepend::always : Prepend::never;
      }
    } else if (type == "Split") {
      const auto [str, regex] = pattern_of(j, here);
      const auto behavior = get_string(j, "behavior", here).value_or("?");
      if (behavior != "Isolated" || get_bool(j, "invert", false, here))
        bad("{}: only behavior Isolated without invert is supported, got {}{}", here, behavior,
            get_bool(j, "invert", false, here) ? " (inverted)" : "");
      if (regex && *regex == kGpt2SplitPattern)
        st.kind = Kind::split_gpt2;
      else if (regex && *regex == kLlama3SplitPattern)
        st.kind = Kind::split_llama3;
      else
        bad("{}: pattern '{}' is not supported (gfnlm has no regex engine; it knows GPT-2's and "
            "Llama-3's patterns)",
            here, regex ? *regex : str.value_or(""));
    } else {
      bad("{}: pre-tokenizer type '{}' is not supported (Sequence, ByteLevel, Metaspace, Split)",
          where, type);
    }
    steps_.push_back(std::move(st));
  }

  static void run(const Step& st, Piece& piece, std::vector<Piece>& out) {
    auto push_views = [&](const std::string& s, const std::vector<std::string_view>& views,
                          bool at_origin) {
      bool first = true;
      for (const auto v : views) {
        if (v.empty()) continue;
        out.push_back({std::string(v), at_origin && first && v.data() == s.data()});
        first = false;
      }
    };
    switch (st.kind) {
      case Kind::split_gpt2:
        push_views(piece.text, gpt2_pretokenize(piece.text, SpaceSet::unicode), piece.at_origin);
        return;
      case Kind::split_llama3:
        push_views(piece.text, llama3_pretokenize(piece.text), piece.at_origin);
        return;
      case Kind::byte_level: {
        std::string s = std::move(piece.text);
        if (st.add_prefix_space && !s.empty() && s.front() != ' ') s.insert(0, 1, ' ');
        const auto& alphabet = ByteAlphabet::get();
        const auto first = out.size();
        if (st.use_regex)
          push_views(s, gpt2_pretokenize(s, SpaceSet::unicode), piece.at_origin);
        else if (!s.empty())
          out.push_back({s, piece.at_origin});
        for (auto k = first; k < out.size(); ++k) {
          std::string mapped;
          for (const char c : out[k].text) mapped += alphabet.chars[static_cast<unsigned char>(c)];
          out[k].text.swap(mapped);
        }
        return;
      }
      case Kind::metaspace: {
        std::string s = std::move(piece.text);
        replace_all(s, " ", st.replacement);
        const bool prepend =
            st.prepend == Prepend::always || (st.prepend == Prepend::first && piece.at_origin);
        if (prepend && !s.empty() && s.rfind(st.replacement, 0) != 0) s.insert(0, st.replacement);
        if (!st.split) {
          if (!s.empty()) out.push_back({std::move(s), piece.at_origin});
          return;
        }
        // Split before every replacement character (tokenizers' MergedWithNext).
        std::size_t begin = 0;
        for (auto hit = s.find(st.replacement, 1); hit != std::string::npos;
             hit = s.find(st.replacement, hit + st.replacement.size())) {
          out.push_back({s.substr(begin, hit - begin), piece.at_origin && begin == 0});
          begin = hit;
        }
        if (begin < s.size()) out.push_back({s.substr(begin), piece.at_origin && begin == 0});
        return;
      }
    }
  }

  std::vector<Step> steps_;
};

// ---- decoder ----------------------------------------------------------------------------------

class Decoder {
 public:
  static Decoder parse(const json& j, const std::string& where) {
    Decoder d;
    d.present_ = !j.is_null();
    if (d.present_) d.add(j, where);
    return d;
  }

  // tokenizers' decode_chain over the tokens' spellings, then their concatenation (the tokens
  // joined by spaces when the file has no decoder).
  std::string apply(std::vector<std::string> tokens) const {
    if (!present_) {
      std::string out;
      for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " " : "") + tokens[i];
      return out;
    }
    for (const auto& st : steps_) run(st, tokens);
    std::string out;
    for (const auto& t : tokens) out += t;
    return out;
  }

  // The bytes one token stands for, without the edge rules (Strip, Metaspace's first token):
  // ByteLevel spellings unmapped, "<0xNN>" as its byte, Replace and Metaspace applied.
  std::string token_text(const std::string& spelling) const {
    std::string s = spelling;
    for (const auto& st : steps_) {
      switch (st.kind) {
        case Kind::byte_level:
          if (auto bytes = ByteAlphabet::get().unmap(s)) s = std::move(*bytes);
          break;
        case Kind::byte_fallback:
          if (const int b = byte_token_value(s); b >= 0) s = std::string(1, static_cast<char>(b));
          break;
        case Kind::replace:
          replace_all(s, st.from, st.to);
          break;
        case Kind::metaspace:
          replace_all(s, st.from, " ");
          break;
        case Kind::fuse:
        case Kind::strip:
          break;
      }
    }
    return s;
  }

 private:
  enum class Kind { byte_level, byte_fallback, fuse, strip, replace, metaspace };
  struct Step {
    Kind kind;
    std::string from, to;  // replace: from -> to; strip, metaspace: from is the character
    int start = 0, stop = 0;
    bool drop_first = false;  // metaspace: the first token loses its replacement characters
  };

  void add(const json& j, const std::string& where) {
    const auto type = type_of(j, where);
    const auto here = fmt::format("{} {}", where, type);
    Step st{};
    if (type == "Sequence") {
      const auto it = j.find("decoders");
      if (it == j.end() || !it->is_array()) bad("{}: \"decoders\" must be an array", here);
      for (const auto& sub : *it) add(sub, where);
      return;
    } else if (type == "ByteLevel") {
      st.kind = Kind::byte_level;
    } else if (type == "ByteFallback") {
      st.kind = Kind::byte_fallback;
    } else if (type == "Fuse") {
      st.kind = Kind::fuse;
    } else if (type == "Strip") {
      st.kind = Kind::strip;
      st.from = one_char(j, "content", " ", here);
      auto count = [&](const char* key) {
        const auto it = j.find(key);
        if (it == j.end() || it->is_null()) return 0;
        if (!it->is_number_unsigned()) bad("{}: \"{}\" must be a count", here, key);
        return static_cast<int>(std::min<uint64_t>(it->get<uint64_t>(), 1 << 20));
      };
      st.start = count("start"), st.stop = count("stop");
    } else if (type == "Replace") {
      st.kind = Kind::replace;
      const auto [str, regex] = pattern_of(j, here);
      if (!str)
        bad("{}: a Regex pattern ({}) is not supported, only a String one", here,
            regex.value_or("?"));
      st.from = *str, st.to = need_string(j, "content", here);
    } else if (type == "Metaspace") {
      st.kind = Kind::metaspace;
      st.from = one_char(j, "replacement", "\u2581", here);
      if (const auto scheme = get_string(j, "prepend_scheme", here))
        st.drop_first = *scheme != "never";
      else
        st.drop_first = get_bool(j, "add_prefix_space", true, here);
    } else {
      bad("{}: decoder type '{}' is not supported (Sequence, ByteLevel, ByteFallback, Fuse, "
          "Strip, Replace, Metaspace)",
          where, type);
    }
    steps_.push_back(std::move(st));
  }

  static void run(const Step& st, std::vector<std::string>& tokens) {
    switch (st.kind) {
      case Kind::byte_level: {
        // One string: each token's bytes (its own UTF-8 when outside the alphabet), decoded
        // lossily.
        std::string bytes;
        for (const auto& t : tokens) {
          if (auto b = ByteAlphabet::get().unmap(t))
            bytes += *b;
          else
            bytes += t;
        }
        std::string out;
        append_lossy(out, bytes);
        tokens.assign(1, std::move(out));
        return;
      }
      case Kind::byte_fallback: {
        // Runs of "<0xNN>" tokens become their bytes when those are valid UTF-8, otherwise one
        // U+FFFD per byte.
        std::vector<std::string> out;
        std::string run;
        std::size_t run_len = 0;
        auto flush = [&] {
          if (run_len == 0) return;
          if (utf8::is_valid(run)) {
            out.push_back(run);
          } else {
            for (std::size_t k = 0; k < run_len; ++k) out.emplace_back("\xEF\xBF\xBD");
          }
          run.clear(), run_len = 0;
        };
        for (auto& t : tokens) {
          if (const int b = byte_token_value(t); b >= 0) {
            run += static_cast<char>(b), ++run_len;
          } else {
            flush();
            out.push_back(std::move(t));
          }
        }
        flush();
        tokens.swap(out);
        return;
      }
      case Kind::fuse: {
        std::string all;
        for (const auto& t : tokens) all += t;
        tokens.assign(1, std::move(all));
        return;
      }
      case Kind::strip:
        for (auto& t : tokens) {
          std::size_t begin = 0, end = t.size();
          for (int k = 0; k < st.start && t.compare(begin, st.from.size(), st.from) == 0; ++k)
            begin += st.from.size();
          for (int k = 0; k < st.stop && end >= begin + st.from.size() &&
                          t.compare(end - st.from.size(), st.from.size(), st.from) == 0;
               ++k)
            end -= st.from.size();
          t = t.substr(begin, end - begin);
        }
        return;
      case Kind::replace:
        for (auto& t : tokens) replace_all(t, st.from, st.to);
        return;
      case Kind::metaspace:
        for (std::size_t i = 0; i < tokens.size(); ++i)
          replace_all(tokens[i], st.from, i == 0 && st.drop_first ? "" : " ");
        return;
    }
  }

  bool present_ = false;
  std::vector<Step> steps_;
};

}  // namespace gfnlm::detail::hf
