#include "gallery/identity_table.h"

#include <algorithm>

#include "facelens/gallery.h"

namespace facelens::gallery {

void IdentityTable::clear() {
  identities.clear();
  by_name.clear();
  slot_identity.clear();
  free_slots.clear();
  face_identity.clear();
  model_faces.clear();
  exact.reset();
  ann.reset();
  ann_removed = 0;
}

IdentityTable::Identity& IdentityTable::identity(int64_t id, const std::string& name) {
  auto it = identities.find(id);
  if (it != identities.end()) return it->second;
  Identity e;
  e.name = name;
  if (!free_slots.empty()) {
    e.slot = free_slots.back();
    free_slots.pop_back();
    slot_identity[static_cast<size_t>(e.slot)] = id;
  } else {
    e.slot = static_cast<int32_t>(slot_identity.size());
    slot_identity.push_back(id);
  }
  by_name[name] = id;
  return identities.emplace(id, std::move(e)).first->second;
}

Status IdentityTable::add_faces(int64_t identity_id, const std::string& name, std::span<const int64_t> face_ids,
                                const std::vector<const std::vector<float>*>& vectors,
                                const std::vector<std::string>& models) {
  Identity& e = identity(identity_id, name);
  std::vector<int64_t> ids;
  std::vector<float> flat;
  std::vector<int32_t> tags;
  for (size_t i = 0; i < face_ids.size(); ++i) {
    auto model = model_faces.try_emplace(models[i], 0).first;
    ++model->second;
    face_identity[face_ids[i]] = {identity_id, model};
    e.faces.push_back(face_ids[i]);
    const auto& v = *vectors[i];
    if (!exact) exact = std::make_unique<ExactIndex>(static_cast<int>(v.size()));
    if (static_cast<int>(v.size()) != exact->dim()) continue;
    ids.push_back(face_ids[i]);
    flat.insert(flat.end(), v.begin(), v.end());
    tags.push_back(e.slot);
  }
  if (ids.empty()) return Status::Ok();
  FACELENS_RETURN_IF_ERROR(exact->add(ids, flat, tags));
  if (ann) FACELENS_RETURN_IF_ERROR(ann->add(ids, flat));
  return Status::Ok();
}

Status IdentityTable::remove_identity(int64_t identity_id) {
  auto id_it = identities.find(identity_id);
  if (id_it == identities.end()) return Status::Ok();
  const std::vector<int64_t> face_ids = id_it->second.faces;
  // The indexes first: when the exact index fails, the table is as it was and a replay of the
  // change retries; a failing ANN index is dropped (rebuilt on the next search that needs it).
  if (exact) FACELENS_RETURN_IF_ERROR(exact->remove(face_ids));
  forget_in_ann(face_ids);
  for (int64_t f : face_ids) {
    auto fi = face_identity.find(f);
    if (fi == face_identity.end()) continue;
    if (--fi->second.model->second == 0) model_faces.erase(fi->second.model);
    face_identity.erase(fi);
  }
  slot_identity[static_cast<size_t>(id_it->second.slot)] = -1;
  free_slots.push_back(id_it->second.slot);
  auto bn = by_name.find(id_it->second.name);
  if (bn != by_name.end() && bn->second == identity_id) by_name.erase(bn);
  identities.erase(id_it);
  return Status::Ok();
}

Status IdentityTable::remove_face(int64_t face_id) {
  auto fi = face_identity.find(face_id);
  if (fi == face_identity.end()) return Status::Ok();
  const std::vector<int64_t> ids = {face_id};
  if (exact) FACELENS_RETURN_IF_ERROR(exact->remove(ids));  // first, as in remove_identity
  forget_in_ann(ids);
  auto id_it = identities.find(fi->second.identity_id);
  if (id_it != identities.end()) {
    auto& faces = id_it->second.faces;
    faces.erase(std::remove(faces.begin(), faces.end(), face_id), faces.end());
  }
  if (--fi->second.model->second == 0) model_faces.erase(fi->second.model);
  face_identity.erase(fi);
  return Status::Ok();
}

void IdentityTable::forget_in_ann(const std::vector<int64_t>& face_ids) {
  if (!ann) return;
  if (!ann->remove(face_ids).ok()) {
    ann.reset();  // rebuilt from the exact index on the next search that needs it
    return;
  }
  ann_removed += face_ids.size();
  // Tombstones slow HNSW searches down: rebuild once they reach a tenth of the index.
  if (ann_removed * 10 > ann->size()) ann.reset();
}

StatusOr<bool> IdentityTable::apply(const Change& c) {
  switch (c.kind) {
    case ChangeKind::kAddIdentity:
      if (!c.name.empty() && !identities.count(c.identity_id)) identity(c.identity_id, display_identity_name(c.name));
      return false;
    case ChangeKind::kAddFace:
      // A face removed since (with its identity) has a kRemoveIdentity later in the log.
      if (face_identity.count(c.face_id) || !c.face_exists || c.name.empty()) return false;
      FACELENS_RETURN_IF_ERROR(
          add_faces(c.identity_id, display_identity_name(c.name), {&c.face_id, 1}, {&c.embedding}, {c.model_id}));
      return false;
    case ChangeKind::kRemoveIdentity: FACELENS_RETURN_IF_ERROR(remove_identity(c.identity_id)); return false;
    case ChangeKind::kRenameIdentity: {
      auto it = identities.find(c.identity_id);
      if (c.name.empty()) return false;  // removed since
      // A stored identity memory never saw (rows written outside facelens): reload.
      if (it == identities.end()) return true;
      auto bn = by_name.find(it->second.name);
      if (bn != by_name.end() && bn->second == c.identity_id) by_name.erase(bn);
      it->second.name = display_identity_name(c.name);
      by_name[it->second.name] = c.identity_id;
      return false;
    }
    case ChangeKind::kRemoveFace: FACELENS_RETURN_IF_ERROR(remove_face(c.face_id)); return false;
    case ChangeKind::kUpdateIdentity: return false;  // metadata: read from the store, never held in memory
    case ChangeKind::kReload: return true;
  }
  return true;
}

size_t IdentityTable::n_faces() const {
  size_t n = 0;
  for (const auto& [model, count] : model_faces) n += count;
  return n;
}

std::string IdentityTable::model_list() const {
  std::string s;
  for (const auto& [m, n] : model_faces) s += (s.empty() ? "" : ", ") + m;
  return s;
}

Status IdentityTable::check_model(const std::string& model, const std::string& store,
                                  const std::string& db_path) const {
  if (model_faces.empty()) return Status::Ok();
  if (model_faces.size() == 1 && model_faces.begin()->first == model) return Status::Ok();
  const std::string stored = model_list();
  std::string msg = "the gallery " + store + " holds embeddings of model '" + stored + "' but the " +
                    "recognizer is '" + model + "': embeddings of different models cannot be compared. Run " +
                    "`facelens gallery reembed --db " + db_path + "` to re-embed the stored faces with '" + model + "'";
  if (model_faces.size() == 1) msg += " (or use the recognizer '" + stored + "')";
  return failed_precondition(msg);
}

}  // namespace facelens::gallery
