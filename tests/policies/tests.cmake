gfnlm_add_test(test_lm_policy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_lm_policy.cpp LABELS policies)
gfnlm_add_test(test_lm_policy_kl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_lm_policy_kl.cpp LABELS policies slow)

# README.md's "Using the library" block, extracted at configure time (editing the README
# re-configures) and compiled by test_readme_snippet.cpp for each loader.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/README.md)
file(READ ${PROJECT_SOURCE_DIR}/README.md gfnlm_readme)
include(${PROJECT_SOURCE_DIR}/cmake/markdown_cpp_block.cmake)
gfnlm_markdown_cpp_block("${gfnlm_readme}" "## Using the library" README.md gfnlm_snippet)
set(gfnlm_snippet_dir ${CMAKE_CURRENT_BINARY_DIR}/readme_snippet)
file(WRITE ${gfnlm_snippet_dir}/readme_snippet.inc.new "${gfnlm_snippet}")
configure_file(${gfnlm_snippet_dir}/readme_snippet.inc.new ${gfnlm_snippet_dir}/readme_snippet.inc
  COPYONLY)
gfnlm_add_test(test_readme_snippet SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_readme_snippet.cpp
  LABELS policies)
target_include_directories(test_readme_snippet PRIVATE ${gfnlm_snippet_dir})
