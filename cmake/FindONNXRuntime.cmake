# Finds the ONNX Runtime C/C++ SDK.
#   ONNXRUNTIME_ROOT (CMake or environment variable): a folder with include/ and lib/, as the
#   official release tarballs lay it out (onnxruntime-linux-x64-<ver>/) or as scripts/setup.sh
#   leaves it (.deps/onnxruntime). Without it, the system paths are searched (distribution package).
# Defines the imported target ONNXRuntime::ONNXRuntime and ONNXRuntime_VERSION (from the header's
# ORT_API_VERSION: 1.<api>.x).
set(_ort_hints "")
if(ONNXRUNTIME_ROOT)
  list(APPEND _ort_hints "${ONNXRUNTIME_ROOT}")
elseif(DEFINED ENV{ONNXRUNTIME_ROOT})
  list(APPEND _ort_hints "$ENV{ONNXRUNTIME_ROOT}")
endif()

find_path(ONNXRuntime_INCLUDE_DIR onnxruntime_cxx_api.h
  HINTS ${_ort_hints}
  PATH_SUFFIXES include include/onnxruntime include/onnxruntime/core/session)
find_library(ONNXRuntime_LIBRARY onnxruntime
  HINTS ${_ort_hints}
  PATH_SUFFIXES lib lib64)

if(ONNXRuntime_INCLUDE_DIR AND EXISTS "${ONNXRuntime_INCLUDE_DIR}/onnxruntime_c_api.h")
  file(STRINGS "${ONNXRuntime_INCLUDE_DIR}/onnxruntime_c_api.h" _ort_api REGEX "^#define ORT_API_VERSION [0-9]+")
  string(REGEX REPLACE "^#define ORT_API_VERSION ([0-9]+).*" "\\1" _ort_api "${_ort_api}")
  set(ONNXRuntime_VERSION "1.${_ort_api}")
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(ONNXRuntime
  REQUIRED_VARS ONNXRuntime_LIBRARY ONNXRuntime_INCLUDE_DIR
  VERSION_VAR ONNXRuntime_VERSION
  REASON_FAILURE_MESSAGE "run scripts/setup.sh, or set ONNXRUNTIME_ROOT to an ONNX Runtime release folder (with include/ and lib/)")

if(ONNXRuntime_FOUND AND NOT TARGET ONNXRuntime::ONNXRuntime)
  add_library(ONNXRuntime::ONNXRuntime SHARED IMPORTED)
  set_target_properties(ONNXRuntime::ONNXRuntime PROPERTIES
    IMPORTED_LOCATION "${ONNXRuntime_LIBRARY}"
    IMPORTED_SONAME "libonnxruntime.so.1"
    INTERFACE_INCLUDE_DIRECTORIES "${ONNXRuntime_INCLUDE_DIR}")
  get_filename_component(ONNXRuntime_LIBRARY_DIR "${ONNXRuntime_LIBRARY}" DIRECTORY)
endif()
mark_as_advanced(ONNXRuntime_INCLUDE_DIR ONNXRuntime_LIBRARY)
