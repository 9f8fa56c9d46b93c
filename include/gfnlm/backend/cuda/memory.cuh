#pragma once
// Device memory for the CUDA backend: one plain cudaMalloc per buffer (never managed memory), so a
// model's parameters, gradients, activations and caches are each one arena addressed by offsets
// (llm.c; DESIGN: backends). DeviceBuffer is the RAII owner; copies are deep (device to device),
// as Transformer's copy constructor expects of Cpu's xtensor buffers. Every host <-> device copy
// is counted per call site (transfers.cuh: transfer_counter()).
#include <gfnlm/backend/cuda/check.cuh>
#include <gfnlm/backend/cuda/transfers.cuh>

#include <cstddef>
#include <source_location>
#include <utility>

namespace gfnlm::cuda {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // n elements, zero-filled (as Cpu::alloc).
  explicit DeviceBuffer(std::size_t n) {
    if (n == 0) return;
    GFNLM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T)));
    size_ = n;
    try {
      GFNLM_CUDA_CHECK(cudaMemset(data_, 0, n * sizeof(T)));
    } catch (...) {
      release();
      throw;
    }
  }
  DeviceBuffer(const DeviceBuffer& o) : DeviceBuffer(o.size_) {
    if (size_ > 0)
      GFNLM_CUDA_CHECK(cudaMemcpy(data_, o.data_, size_ * sizeof(T), cudaMemcpyDeviceToDevice));
  }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(const DeviceBuffer& o) {
    if (this != &o) *this = DeviceBuffer(o);
    return *this;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  // A destructor must not throw; a failing cudaFree (e.g. after the context died) is dropped.
  void release() noexcept {
    if (data_) (void)cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

template <class T>
__global__ void fill_kernel(T* dst, std::size_t n, T value) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dst[i] = value;
}

struct MemoryOps {
  template <class T>
  static void fill(T* dst, std::size_t n, T value) {
    if (n == 0) return;
    GFNLM_CUDA_LAUNCH(fill_kernel<T>, blocks_for(static_cast<long>(n), 256), 256, 0, dst, n, value);
  }
  // Synchronous copies on the default stream: they wait for the kernels queued before them.
  // `where` (the caller, by default) is the site transfer_counter() adds the bytes to.
  template <class T>
  static void to_host(T* host_dst, const T* src, std::size_t n,
                      std::source_location where = std::source_location::current()) {
    if (n == 0) return;
    GFNLM_CUDA_CHECK(cudaMemcpy(host_dst, src, n * sizeof(T), cudaMemcpyDeviceToHost));
    transfer_counter().add(where, TransferDirection::to_host, n * sizeof(T));
  }
  template <class T>
  static void from_host(T* dst, const T* host_src, std::size_t n,
                        std::source_location where = std::source_location::current()) {
    if (n == 0) return;
    GFNLM_CUDA_CHECK(cudaMemcpy(dst, host_src, n * sizeof(T), cudaMemcpyHostToDevice));
    transfer_counter().add(where, TransferDirection::from_host, n * sizeof(T));
  }
  template <class T>
  static void copy(T* dst, const T* src, std::size_t n) {
    if (n == 0 || dst == src) return;
    GFNLM_CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(T), cudaMemcpyDeviceToDevice));
  }
  static void synchronize() { GFNLM_CUDA_CHECK(cudaDeviceSynchronize()); }
};

}  // namespace gfnlm::cuda
