# The FSDP2 example as a test (label torch): 20 steps of examples/fsdp2_mics.py on mics, on Gloo
# and in one process, with losses and final parameters compared (tests/python/test_fsdp2_example.py).
# Included from the top-level CMakeLists when MICS_BUILD_TORCH and MICS_BUILD_TESTS are ON; runs
# with the interpreter the backend was built for (MICS_TORCH_PYTHON).

add_test(NAME fsdp2_example
         COMMAND ${MICS_TORCH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../tests/python/test_fsdp2_example.py)
set_tests_properties(fsdp2_example PROPERTIES
  LABELS torch
  TIMEOUT 600
  PROCESSORS 4
  ENVIRONMENT "MICS_RUN=${CMAKE_BINARY_DIR}/mics-run;MICS_BUILD_DIR=${CMAKE_BINARY_DIR};PYTHON=${MICS_TORCH_PYTHON};GLOO_SOCKET_IFNAME=lo")
