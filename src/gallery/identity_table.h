// The gallery's in-memory state: identities with their slots (the row tags of the exact index),
// faces with their identity and model, and the search indexes (exact, and a FAISS one when
// built). Changed by the Gallery's writes and by the changes other processes logged in the store.
//
// Not thread-safe: the Gallery's locks guard it (writers exclusive, searches shared).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "facelens/status.h"
#include "gallery/index.h"
#include "gallery/store.h"

namespace facelens::gallery {

struct IdentityTable {
  struct Identity {
    std::string name;  // display name
    int32_t slot = -1;
    std::vector<int64_t> faces;
  };
  struct FaceRef {
    int64_t identity_id = 0;
    std::map<std::string, size_t>::iterator model;  // into model_faces
  };

  std::unordered_map<int64_t, Identity> identities;
  std::unordered_map<std::string, int64_t> by_name;  // display names
  std::vector<int64_t> slot_identity;                // slot -> identity id; -1 when free
  std::vector<int32_t> free_slots;
  std::unordered_map<int64_t, FaceRef> face_identity;
  std::map<std::string, size_t> model_faces;  // model id -> stored faces
  std::unique_ptr<ExactIndex> exact;
  std::unique_ptr<Index> ann;  // built on the first search that wants it (see Search)
  size_t ann_removed = 0;      // removals since the ANN index was built

  void clear();
  // The identity `id`, created (with a slot) when new.
  Identity& identity(int64_t id, const std::string& name);
  // Adds faces; faces of another dimension than the index stay out of it (they can only come from
  // a mixed-model gallery, which every search refuses until reembed).
  Status add_faces(int64_t identity_id, const std::string& name, std::span<const int64_t> face_ids,
                   const std::vector<const std::vector<float>*>& vectors, const std::vector<std::string>& models);
  Status remove_identity(int64_t identity_id);
  // Removes one face (its identity stays, even without faces); nothing when absent.
  Status remove_face(int64_t face_id);
  // Removes faces from the ANN index, or drops the index when that fails.
  void forget_in_ann(const std::vector<int64_t>& face_ids);
  // One change of the store's log. Idempotent: a change this process made itself, or one a load
  // already saw, changes nothing. True when memory cannot follow and everything must be reloaded.
  StatusOr<bool> apply(const Change& c);

  size_t n_faces() const;
  int dim() const { return exact ? exact->dim() : 0; }
  // The stored model ids, joined by ", " ("" when empty).
  std::string model_list() const;
  // Ok when every stored face is of `model` (or none is stored). `store` and `db_path` name the
  // gallery in the error, which says how to re-embed.
  Status check_model(const std::string& model, const std::string& store, const std::string& db_path) const;
};

}  // namespace facelens::gallery
