// facelens — version of the library.
#pragma once

namespace facelens {
// "0.1.0"
const char* version();
}  // namespace facelens
