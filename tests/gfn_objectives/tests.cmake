gfnlm_add_test(test_gfn_objectives
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_gradients.cpp ${CMAKE_CURRENT_LIST_DIR}/test_cases.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_tabular.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_training.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_vargrad.cpp
  LABELS gfn_objectives)
