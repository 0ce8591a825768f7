// Model families: what facelens knows how to run, recognising a model's family from its
// input/output signature, and building the manifest entry for a model file the manifest does not
// list (a user's --detector FILE).
//
//   auto manifests = models::load_known_manifests("models");          // manifest.json, extra.json
//   models::FileModelOptions o;
//   o.task = models::Task::kDetector;
//   for (const auto& m : manifests) o.manifests.push_back(&m);
//   auto fm = models::entry_for_file("scrfd_10g_bnkps.onnx", o);
//   if (fm.ok()) use(fm->entry);   // family kScrfd, outputs mapped, thresholds of the family
//
// A file whose sha256 is in one of the given manifests gets that entry (file set to the path);
// otherwise its family is the one named, or the first whose signature the file fits, and the
// entry is the family's template (the conventions of the family's reference code, cited in
// family.cpp) with the model's own input name, fixed sizes and output names. Pure functions on
// values the caller owns; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "facelens/models.h"
#include "facelens/status.h"
#include "models/manifest.h"

namespace facelens::models {

struct FamilyInfo {
  Family family;  // Family::kScrfd
  Task task;
  std::string signature;  // the input/output signature in words
};

// Every family facelens recognises from a model file (immutable table; attribute families are
// not in it: their models are named by a manifest).
const std::vector<FamilyInfo>& known_families();
// "detector: ultraface, scrfd, ...; recognizer: arcface, ...", for error messages.
std::string known_families_text();
// The table's row of `family`, or nullptr (an attribute family).
const FamilyInfo* find_family(Family family);

// `name` as a family of the table, for options that name a model file's family (EngineOptions::
// detector_family, --detector-family ...): an unknown name or an attribute family is an error that
// lists the families.
StatusOr<Family> parse_file_family(std::string_view name);

// Families whose signature `d` fits, most likely first (empty when none does). `task` (none = any)
// keeps only that task's families.
std::vector<Family> match_families(const ModelDescription& d, std::optional<Task> task = std::nullopt);

struct FileModelOptions {
  std::optional<Family> family;            // none = recognise from the signature
  std::optional<Task> task;                // none = any; else the family must be one of this task
  std::vector<const Manifest*> manifests;  // searched by sha256 first
};

struct FileModel {
  ModelEntry entry;  // entry.file = the path given
  // How the entry was found: "manifest" (sha256 of an entry of `manifest_path`), "named" (the
  // family given), "signature" (recognised).
  std::string how;
  std::string manifest_path;
  std::vector<Family> alternatives;  // other families the signature also fits
  ModelDescription description;
};

// The manifest entry for the model file at `path` (see the header comment). Errors: not an ONNX
// file; a family not in the table or not of options.task; a signature no family fits (the message
// lists the families).
StatusOr<FileModel> entry_for_file(const std::string& path, const FileModelOptions& options);

// The family template entry for `family`, fitted to the model described by `d`.
StatusOr<ModelEntry> entry_from_family(Family family, const ModelDescription& d);

// The manifests of a models folder: manifest.json and extra.json, those that exist and parse.
std::vector<Manifest> load_known_manifests(const std::string& models_dir);

// The entry in the schema of models/manifest.json (pretty-printed JSON object).
std::string entry_to_json(const ModelEntry& e);

}  // namespace facelens::models
