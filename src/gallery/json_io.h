// The gallery's JSON export and import (`facelens gallery export` / `import`): the format is
// described at Gallery::export_json. Reads and checks only; the Gallery writes the import.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

#include "facelens/gallery.h"
#include "facelens/status.h"
#include "gallery/store.h"

namespace facelens::gallery {

// Every identity and face of the store as an export document (crops only when asked).
StatusOr<std::string> export_json(const Store& store, bool with_crops);

// An export document read and checked against the store: what to add, in one transaction.
struct ImportPlan {
  std::vector<NewIdentityFaces> items;
  ImportResult result;           // what adding `items` adds
  std::set<std::string> models;  // of the faces to add
  size_t dim = 0;                // of the faces to add (0 when none)
};
// Refuses (kInvalidArgument, saying where) a document that is not an export, invalid names,
// metadata, embeddings, boxes or crops. Faces whose image the store holds (or the document
// repeats) are counted as duplicates and left out; identities the store holds keep their
// metadata and timestamps. Callers hold the gallery's write lock.
StatusOr<ImportPlan> read_import(const std::string& json_text, const Store& store);

}  // namespace facelens::gallery
