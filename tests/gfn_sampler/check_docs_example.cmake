# Fails unless the code block that follows the marker line in PAGE is exactly the file CODE, so
# docs/concepts.md can never drift from the examples the test suite compiles and runs. The marker
# is "<!-- example: PATH -->", PATH being CODE relative to ROOT.
file(READ "${PAGE}" page)
file(READ "${CODE}" code)
file(RELATIVE_PATH code_path "${ROOT}" "${CODE}")
set(marker "<!-- example: ${code_path} -->")
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/markdown_cpp_block.cmake)
gfnlm_markdown_cpp_block("${page}" "${marker}" "${PAGE}" block)
if(NOT block STREQUAL code)
  if(DEFINED OUT)
    file(WRITE "${OUT}" "${block}")
    set(hint " (the page's version is in ${OUT}; diff them)")
  endif()
  message(FATAL_ERROR "the example in ${PAGE} differs from ${CODE}${hint}")
endif()
message(STATUS "docs example matches ${CODE}")
