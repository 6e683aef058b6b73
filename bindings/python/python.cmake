# The pure-Python package mics (bindings/python/mics), included from the top-level CMakeLists
# before the torch option.
#
# Build tree: the package's .py files are copied to ${CMAKE_BINARY_DIR}/python/mics at build
# time, beside the torch extension _mics_torch (bindings/torch), so `PYTHONPATH=<build>/python`
# imports the whole package; mics/_lib.py finds <build>/libmics.so.0 from there.
#
# pip install (scikit-build-core sets SKBUILD; see pyproject.toml): installs libmics as
# mics/libmics.so.0, mics-run as a script, and _mics_torch (RPATH $ORIGIN) into the wheel, all as
# install component "python" (the wheel takes only that component). The torch extension is built
# when the installing interpreter can import torch (pip install --no-build-isolation), unless
# -C cmake.define.MICS_BUILD_TORCH=ON|OFF says otherwise.

file(GLOB MICS_PYTHON_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/mics/*.py)
set(MICS_PYTHON_PACKAGE_DIR ${CMAKE_BINARY_DIR}/python/mics)
set(mics_python_outputs)
foreach(source ${MICS_PYTHON_SOURCES})
  get_filename_component(name ${source} NAME)
  add_custom_command(OUTPUT ${MICS_PYTHON_PACKAGE_DIR}/${name}
                     COMMAND ${CMAKE_COMMAND} -E copy_if_different ${source}
                             ${MICS_PYTHON_PACKAGE_DIR}/${name}
                     DEPENDS ${source} VERBATIM)
  list(APPEND mics_python_outputs ${MICS_PYTHON_PACKAGE_DIR}/${name})
endforeach()
add_custom_target(mics_python ALL DEPENDS ${mics_python_outputs})

if(NOT SKBUILD)
  return()
endif()

if(NOT DEFINED CACHE{MICS_BUILD_TORCH})
  execute_process(COMMAND ${Python_EXECUTABLE} -c "import torch"
                  RESULT_VARIABLE mics_python_has_torch OUTPUT_QUIET ERROR_QUIET)
  if(mics_python_has_torch EQUAL 0)
    message(STATUS "pip build: torch found in ${Python_EXECUTABLE}: building mics.torch")
    set(MICS_BUILD_TORCH ON CACHE BOOL "Build the Torch c10d backend extension _mics_torch")
    set(MICS_TORCH_PYTHON ${Python_EXECUTABLE} CACHE FILEPATH "Python whose torch to build against")
  else()
    message(STATUS "pip build: no torch importable by ${Python_EXECUTABLE} (build isolation?): "
                   "package and libmics only; mics.torch needs pip install --no-build-isolation")
  endif()
endif()

install(FILES $<TARGET_FILE:mics> DESTINATION mics RENAME libmics.so.0 COMPONENT python)
install(PROGRAMS ${CMAKE_BINARY_DIR}/mics-run DESTINATION ${SKBUILD_SCRIPTS_DIR} COMPONENT python)

# _mics_torch is defined later (bindings/torch), so its install rule runs at the end of the
# top-level directory.
function(mics_python_install_torch)
  if(TARGET _mics_torch)
    set_target_properties(_mics_torch PROPERTIES INSTALL_RPATH "$ORIGIN")
    install(TARGETS _mics_torch LIBRARY DESTINATION mics COMPONENT python)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} CALL mics_python_install_torch)
