# Finds OpenCV's core and imgproc libraries alone (Debian's libopencv-core-dev and
# libopencv-imgproc-dev ship no CMake config; the full libopencv-dev drags in GDAL and dozens of
# libraries facelens does not use). Prefers a full OpenCV CMake config when one is installed.
# Defines the imported targets opencv_core and opencv_imgproc.
find_package(OpenCV 4 QUIET COMPONENTS core imgproc)
if(OpenCV_FOUND)
  set(OpenCVCore_FOUND TRUE)
  return()
endif()
find_path(OpenCVCore_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
find_library(OpenCVCore_CORE_LIBRARY opencv_core)
find_library(OpenCVCore_IMGPROC_LIBRARY opencv_imgproc)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenCVCore
  REQUIRED_VARS OpenCVCore_CORE_LIBRARY OpenCVCore_IMGPROC_LIBRARY OpenCVCore_INCLUDE_DIR
  REASON_FAILURE_MESSAGE "install libopencv-core-dev and libopencv-imgproc-dev (scripts/setup.sh does)")
if(OpenCVCore_FOUND AND NOT TARGET opencv_core)
  add_library(opencv_core SHARED IMPORTED)
  set_target_properties(opencv_core PROPERTIES IMPORTED_LOCATION "${OpenCVCore_CORE_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${OpenCVCore_INCLUDE_DIR}")
  add_library(opencv_imgproc SHARED IMPORTED)
  set_target_properties(opencv_imgproc PROPERTIES IMPORTED_LOCATION "${OpenCVCore_IMGPROC_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${OpenCVCore_INCLUDE_DIR}" INTERFACE_LINK_LIBRARIES opencv_core)
endif()
mark_as_advanced(OpenCVCore_INCLUDE_DIR OpenCVCore_CORE_LIBRARY OpenCVCore_IMGPROC_LIBRARY)
