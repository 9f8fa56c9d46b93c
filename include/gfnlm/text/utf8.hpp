#pragma once
// UTF-8 helpers shared by the tokenizers: strict decoding (no overlongs, no surrogates, nothing
// above U+10FFFF), so invalid input is reported with its byte offset instead of being split or
// mapped silently.
#include <gfnlm/core/error.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace gfnlm::utf8 {

// Length in bytes of the valid UTF-8 character starting at s[pos], or 0 if the bytes there are
// not valid UTF-8 (truncated, overlong, surrogate, out of range, stray continuation byte).
// On success, *code_point (if given) receives the decoded value.
inline std::size_t char_length(std::string_view s, std::size_t pos,
                               char32_t* code_point = nullptr) {
  if (pos >= s.size()) return 0;
  const auto b0 = static_cast<unsigned char>(s[pos]);
  std::size_t n;
  char32_t cp;
  if (b0 < 0x80) {
    if (code_point) *code_point = b0;
    return 1;
  } else if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3, cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4, cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (pos + n > s.size()) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    const auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  if (code_point) *code_point = cp;
  return n;
}

// Byte offset of the first invalid UTF-8 sequence, or npos when the whole string is valid.
inline std::size_t find_invalid(std::string_view s) {
  for (std::size_t pos = 0; pos < s.size();) {
    const auto n = char_length(s, pos);
    if (n == 0) return pos;
    pos += n;
  }
  return std::string_view::npos;
}

inline bool is_valid(std::string_view s) {
  return find_invalid(s) == std::string_view::npos;
}

// Appends the UTF-8 encoding of a code point (assumed valid) to out.
inline void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A printable rendering of a character for error messages: the character itself when it is
// visible ASCII, otherwise its escape (e.g. "\n", "U+00E9", "byte 0xFF").
inline std::string describe(std::string_view s, std::size_t pos) {
  char32_t cp = 0;
  const auto n = char_length(s, pos, &cp);
  if (n == 0) return fmt::format("byte 0x{:02X}", static_cast<unsigned char>(s[pos]));
  if (cp == '\n') return "'\\n'";
  if (cp == '\t') return "'\\t'";
  if (cp == '\r') return "'\\r'";
  if (cp >= 0x20 && cp < 0x7F) return fmt::format("'{}'", static_cast<char>(cp));
  if (cp < 0x20 || cp == 0x7F) return fmt::format("U+{:04X}", static_cast<uint32_t>(cp));
  return fmt::format("'{}' (U+{:04X})", s.substr(pos, n), static_cast<uint32_t>(cp));
}

}  // namespace gfnlm::utf8
