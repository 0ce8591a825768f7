// Identity names (the rules of validate_identity_name, gallery.h).
#pragma once

#include <string>
#include <string_view>

namespace facelens::gallery {

// What is wrong with a name ("" when nothing): validate_identity_name's message without the
// example (which display_identity_name builds from this).
std::string name_problem(std::string_view name);

}  // namespace facelens::gallery
