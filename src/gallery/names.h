// Identity names (the rules of validate_identity_name, gallery.h).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "facelens/gallery.h"
#include "gallery/store.h"

namespace facelens::gallery {

// What is wrong with a name ("" when nothing): validate_identity_name's message without the
// example (which display_identity_name builds from this).
std::string name_problem(std::string_view name);

// The stored identities whose names are invalid, each with the name it is repaired to: its
// display form, made unique among all names (stored and repaired) with a "~N" suffix.
std::vector<NameProblem> name_repairs(std::span<const StoredIdentity> identities);

}  // namespace facelens::gallery
