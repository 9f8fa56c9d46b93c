#pragma once
// Small per-call host arrays (indices, temperatures, uniforms, gathered log-probs) to and from a
// backend's kernels. On a host backend the vector itself is the kernel's argument and nothing is
// copied; on a device backend each array has a reusable buffer that grows to fit. Every copy is
// attributed to its caller's source line (Cuda's transfer counter, backend/cuda/transfers.cuh).
#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>
#include <version>
#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace gfnlm::staging {

// The caller's line, where the standard library has std::source_location (not clang 14's, which
// the fuzz targets and clang-tidy use; those never copy to a device).
#if defined(__cpp_lib_source_location)
using CallSite = std::source_location;
#else
struct CallSite {
  static constexpr CallSite current() noexcept { return {}; }
};
#endif

// The buffer's data, after growing it to at least n elements (one, when n is zero).
template <class Bk, class Buffer>
auto* reserve(Buffer& buffer, std::size_t n) {
  using T = std::remove_pointer_t<decltype(Bk::data(buffer))>;
  if (Bk::size(buffer) < std::max<std::size_t>(n, 1))
    buffer = Bk::template alloc<T>(std::max<std::size_t>(n, 1));
  return Bk::data(buffer);
}

// The host values as a backend pointer: the vector's own data on a host backend, else a copy in
// `buffer`.
template <class Bk, class Buffer, class T>
const T* upload(Buffer& buffer, const std::vector<T>& host, CallSite where = CallSite::current()) {
  if constexpr (Bk::host_memory) {
    return host.data();
  } else {
    T* dst = reserve<Bk>(buffer, host.size());
#if defined(__cpp_lib_source_location)
    if (!host.empty()) Bk::from_host(dst, host.data(), host.size(), where);
#else
    (void)where;
    if (!host.empty()) Bk::from_host(dst, host.data(), host.size());
#endif
    return dst;
  }
}

// The first n values of `buffer` into host memory.
template <class Bk, class Buffer, class T>
void download(T* host, const Buffer& buffer, std::size_t n, CallSite where = CallSite::current()) {
#if defined(__cpp_lib_source_location)
  if constexpr (!Bk::host_memory) {
    Bk::to_host(host, Bk::data(buffer), n, where);
    return;
  }
#endif
  (void)where;
  Bk::to_host(host, Bk::data(buffer), n);
}

}  // namespace gfnlm::staging
