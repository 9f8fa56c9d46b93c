# The CPU transformer engine (issue 2): kernels, model, LoRA, decoding, pretraining.
gfnlm_add_test(test_model
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/test_layers_fd.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_transformer_fd.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_gpt2_fixture.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_decode.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_lora.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_pretrain.cpp
    ${CMAKE_CURRENT_LIST_DIR}/test_matmul_paths.cpp
  LABELS model)
