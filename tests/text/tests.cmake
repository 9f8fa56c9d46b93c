gfnlm_add_test(test_text
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_char_tokenizer.cpp
  LABELS text)
