#pragma once
// Weights read from a file must be finite. A NaN or inf loads without complaint, then turns every
// logit it touches into NaN, and a run fails much later far from the cause (or a GFlowNet loss
// quietly stops learning); so every model loader checks each tensor as it reads it (issue 18).
#include <gfnlm/core/error.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

namespace gfnlm {

// Index of the first NaN or inf of values[0, count), or count if there is none.
template <class T>
std::size_t first_non_finite(const T* values, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i)
    if (!std::isfinite(static_cast<double>(values[i]))) return i;
  return count;
}

namespace detail {
template <class T>
std::string non_finite_message(const T* values, std::size_t count, std::size_t i,
                               std::string_view tensor) {
  return fmt::format(
      "tensor '{}' holds a non-finite weight: {} at index {} (of {}); a model with NaN or inf "
      "weights is refused",
      tensor, static_cast<double>(values[i]), i, count);
}
}  // namespace detail

// Throws a FormatError naming `where` (what was read: a quoted file name, or "gfnlm model stream"
// when the caller that opened the file adds its name), the tensor, the first offending index and
// its value.
template <class T>
void require_finite_in_stream(const T* values, std::size_t count, std::string_view where,
                              std::string_view tensor) {
  const std::size_t i = first_non_finite(values, count);
  if (i != count)
    throw FormatError(
        fmt::format("{}: {}", where, detail::non_finite_message(values, count, i, tensor)));
}

// The same for a tensor of a named file.
template <class T>
void require_finite(const T* values, std::size_t count, std::string_view file,
                    std::string_view tensor) {
  require_finite_in_stream(values, count, fmt::format("'{}'", file), tensor);
}

}  // namespace gfnlm
