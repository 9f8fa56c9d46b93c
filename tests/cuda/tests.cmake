# CUDA backend tests (issue 7). tests/CMakeLists.txt includes every area's tests.cmake before the
# CUDA language is enabled; these targets are defined only when cmake/gfnlm_cuda.cmake adds
# tests/cuda as a directory (GFNLM_CUDA=ON), whose CMakeLists.txt includes this file. Every test
# is labelled `cuda` and `gpu` (directory property) and exits with code 77, which CTest reports as
# skipped, when no CUDA device is present (cuda_main.cpp).
if(NOT GFNLM_CUDA_TESTS_READY)
  return()
endif()
find_package(Catch2 REQUIRED)
include(Catch)

# A Catch2 main of our own: it checks for a device before running anything.
add_library(gfnlm_cuda_test_main OBJECT ${CMAKE_CURRENT_LIST_DIR}/cuda_main.cpp)
target_link_libraries(gfnlm_cuda_test_main PUBLIC Catch2::Catch2 gfnlm_cuda)

# gfnlm_add_cuda_test(NAME SOURCES...)
function(gfnlm_add_cuda_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE gfnlm_cuda_test_main)
  target_compile_definitions(${name} PRIVATE GFNLM_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  catch_discover_tests(${name} PROPERTIES SKIP_RETURN_CODE 77)
endfunction()

gfnlm_add_cuda_test(test_cuda_kernels SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_kernels.cu)
gfnlm_add_cuda_test(test_cuda_transformer SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_transformer.cu)
gfnlm_add_cuda_test(test_cuda_precision SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_precision.cu)
gfnlm_add_cuda_test(test_cuda_sampler SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sampler.cu)
