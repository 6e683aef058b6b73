# Tests of the Python package (label python), registered when an interpreter with NumPy is found:
# MICS_PYTHON if given, else the torch interpreter (MICS_TORCH_PYTHON), else the venv that
# cmake/setup_torch.sh makes (${MICS_VENV:-/var/cache/mics/venv}), else python3 on PATH.

# Off in the sanitizer builds (.ci/sanitizers.sh): an uninstrumented interpreter cannot load an
# ASan/TSan libmics through ctypes.
option(MICS_PYTHON_TESTS "Register the tests of the Python package (tests/python)" ON)
if(NOT MICS_PYTHON_TESTS)
  return()
endif()

if(NOT MICS_PYTHON)
  if(MICS_TORCH_PYTHON)
    set(mics_python_default ${MICS_TORCH_PYTHON})
  elseif(DEFINED ENV{MICS_VENV} AND EXISTS $ENV{MICS_VENV}/bin/python)
    set(mics_python_default $ENV{MICS_VENV}/bin/python)
  elseif(EXISTS /var/cache/mics/venv/bin/python)
    set(mics_python_default /var/cache/mics/venv/bin/python)
  else()
    find_program(mics_python_default NAMES python3)
  endif()
  set(MICS_PYTHON ${mics_python_default} CACHE FILEPATH "Python (with NumPy) for the tests/python")
endif()

execute_process(COMMAND ${MICS_PYTHON} -c "import numpy" RESULT_VARIABLE mics_python_numpy
                OUTPUT_QUIET ERROR_QUIET)
if(NOT mics_python_numpy EQUAL 0)
  message(STATUS "tests/python: NOT registered: '${MICS_PYTHON}' cannot import numpy "
                 "(run cmake/setup_torch.sh, or set -DMICS_PYTHON=<python with numpy>)")
  return()
endif()
message(STATUS "tests/python: NumPy API tests with ${MICS_PYTHON}")

# numpy_api_<ranks>x<nodes>: every collective, dtype and op, exact, on emulated nodes.
foreach(shape "3;1" "4;2" "6;3")
  list(GET shape 0 ranks)
  list(GET shape 1 nodes)
  add_test(NAME python_numpy_api_${ranks}x${nodes}
           COMMAND ${MICS_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/test_numpy_api.py -n ${ranks}
                   --nodes ${nodes})
  set_tests_properties(python_numpy_api_${ranks}x${nodes} PROPERTIES
    LABELS python
    TIMEOUT 300
    PROCESSORS ${ranks}
    ENVIRONMENT "MICS_RUN=${CMAKE_BINARY_DIR}/mics-run;MICS_BUILD_DIR=${CMAKE_BINARY_DIR}")
endforeach()
