gfnlm_add_test(test_eval SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_metrics.cpp
  ${CMAKE_CURRENT_LIST_DIR}/test_svg.cpp LABELS eval)
