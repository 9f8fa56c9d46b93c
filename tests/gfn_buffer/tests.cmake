gfnlm_add_test(test_gfn_buffer SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_replay_buffer.cpp
  LABELS gfn_buffer)
