find_package(nlohmann_json REQUIRED)

gfnlm_add_test(test_io
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_llama2c.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_peft.cpp
          ${CMAKE_CURRENT_LIST_DIR}/test_hf_config.cpp
  LABELS io)
target_link_libraries(test_io PRIVATE nlohmann_json::nlohmann_json)
