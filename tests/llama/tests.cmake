# Llama-family blocks (issue 4, acceptance 1 and 3): kernel and model finite differences, the
# PyTorch fixture, KV-cache decoding, and the aidreams260K llama2.c checkpoint.
gfnlm_add_test(test_llama
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/test_llama_fd.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_llama_fixture.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_llama_decode.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_aidreams.cpp
  LABELS llama)
