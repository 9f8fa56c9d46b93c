# The CUDA backend's build (issue 7), included at the end of the top-level CMakeLists.txt when
# GFNLM_CUDA=ON. The backend itself is headers (include/gfnlm/backend/cuda/*.cuh, compiled by
# nvcc in the user's .cu files); this adds the target that carries its requirements, the CUDA
# tests (label `gpu`, skipped where no device is present), any examples/*_cuda.cu and
# benchmarks/*_cuda.cu.
include_guard(GLOBAL)

# sm_90 (H100 / H200) machine code plus its PTX, which later GPUs can JIT-compile.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "90;90-virtual")
endif()
# nvcc's host compiler: the C++ compiler of the rest of the build, unless chosen otherwise.
if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}")
endif()
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)

# gfnlm_cuda: link it to a target whose .cu files include <gfnlm/backend/cuda/backend.cuh>.
# CMake 3.25 knows no CUDA20 dialect, so -std=c++20 is passed by hand. fmt disables its constexpr
# paths under __NVCC__, after which g++ rejects fmt's own headers: FMT_USE_CONSTEXPR=1 turns them
# back on. Warning 20012 is Eigen's defaulted __host__ __device__ members, harmless.
add_library(gfnlm_cuda INTERFACE)
add_library(gfnlm::cuda ALIAS gfnlm_cuda)
target_link_libraries(gfnlm_cuda INTERFACE gfnlm::gfnlm CUDA::cudart CUDA::cublas)
target_compile_definitions(gfnlm_cuda INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:FMT_USE_CONSTEXPR=1>)
target_compile_options(gfnlm_cuda INTERFACE
  $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --expt-relaxed-constexpr -diag-suppress=20012
  -Xcompiler=-fopenmp>)

if(GFNLM_BUILD_TESTS)
  set(GFNLM_CUDA_TESTS_READY ON)
  # A directory of their own, so a directory LABELS property can give every discovered test both
  # labels (catch_discover_tests flattens a multi-valued LABELS passed through PROPERTIES).
  add_subdirectory(${PROJECT_SOURCE_DIR}/tests/cuda ${PROJECT_BINARY_DIR}/tests_cuda)
endif()

# One program per DIR/*_cuda.cu, linked to the backend, CLI11 and nlohmann-json, written to
# OUTPUT_DIR.
function(gfnlm_add_cuda_programs dir output_dir)
  file(GLOB sources CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/${dir}/*_cuda.cu")
  if(NOT sources)
    return()
  endif()
  find_package(CLI11 REQUIRED)
  find_package(nlohmann_json REQUIRED)
  foreach(source ${sources})
    get_filename_component(name ${source} NAME_WE)
    add_executable(${name} ${source})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${output_dir}")
    target_link_libraries(${name} PRIVATE gfnlm_cuda CLI11::CLI11 nlohmann_json::nlohmann_json)
  endforeach()
endfunction()

if(GFNLM_BUILD_EXAMPLES)
  gfnlm_add_cuda_programs(examples "${PROJECT_BINARY_DIR}")
endif()
# The GPU benchmarks (benchmarks/*_cuda.cu, peers of the *.py beside them) come with the CUDA build
# as its examples do: this file is included after add_subdirectory(benchmarks), and a GPU
# machine's staging (scripts/device_check.sh --stage) needs no other option.
if(GFNLM_BUILD_BENCHMARKS OR GFNLM_BUILD_EXAMPLES)
  gfnlm_add_cuda_programs(benchmarks "${PROJECT_BINARY_DIR}/benchmarks")
endif()
