// facelens gallery enroll | list | remove | identify | verify | export | import | reembed | check,
// and facelens calibrate.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "common.h"
#include "facelens/calibration.h"
#include "facelens/config.h"
#include "facelens/gallery.h"
#include "facelens/recognition.h"
#include "facelens/result_json.h"

namespace facelens::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
// JSON output never aborts on text that is not UTF-8 (names stored by older versions, paths):
// such bytes are written as U+FFFD.
constexpr auto kUtf8Replace = json::error_handler_t::replace;

double r4(double v) { return std::round(v * 10000.0) / 10000.0; }
double r2(double v) { return std::round(v * 100.0) / 100.0; }

struct GalleryArgs {
  // Unset: from the config's [gallery] table, else GalleryOptions' defaults.
  std::string db;
  std::string index;
  std::string score;
  int score_k = 0;
  GalleryOptions configured;  // [gallery] of the config (filled before the command runs)
  float threshold = -1;
  bool normal_sync = false;
  // enroll
  std::string name;
  std::vector<std::string> images;
  std::string meta;
  bool largest = false;
  float min_face = -1;
  double min_sharpness = -1;
  float max_pose = -1;
  bool live = false;
  bool no_crop = false;
  // list / identify / verify / export / import
  bool faces = false;
  int top_k = 5;
  std::string image;
  std::string file;
  bool no_crops = false;
  // check
  bool repair = false;
};

void add_gallery_options(CLI::App* cmd, Common& common, GalleryArgs& a) {
  add_common(cmd, common);
  cmd->add_option("--db", a.db,
                  "gallery database: a SQLite file (its folder is created) or postgresql://user:password@host:port/db "
                  "(default: [gallery] db_url, else db_path, ./data/gallery.db)");
  cmd->add_option("--index", a.index,
                  "search: auto (exact below 20k faces, then hamming; default), exact, hamming, hnsw, ivf")
      ->check(CLI::IsMember({"auto", "exact", "hamming", "hnsw", "ivf"}));
  cmd->add_option("--score", a.score, "identity score over its faces: best (default), or mean of the --score-k best")
      ->check(CLI::IsMember({"best", "mean"}));
  cmd->add_option("--score-k", a.score_k, "faces averaged by --score mean (default 3)");
  cmd->add_option("--threshold", a.threshold,
                  "match threshold (cosine); default: [recognizer] match_threshold of the config, else the manifest's")
      ->check(CLI::Range(0.0, 1.0));  // the unset value is -1: a negative one would be ignored
  cmd->add_flag("--sync-normal", a.normal_sync,
                "SQLite synchronous=NORMAL: faster bulk writes; survives a crash but not a power cut");
}

// --index and --score were checked by CLI11 (IsMember): only an unset ("") one fails to parse,
// and then the config's value stays.
GalleryOptions gallery_options(const GalleryArgs& a) {
  GalleryOptions o = a.configured;  // with --db sorted into db_path / db_url by resolve_gallery_config
  if (a.normal_sync) o.durability = Durability::kNormal;
  if (auto index = parse_index_kind(a.index); index.ok()) o.index = *index;
  if (auto score = parse_identity_score(a.score); score.ok()) o.score = *score;
  if (a.score_k > 0) o.score_top_k = a.score_k;
  o.match_threshold = a.threshold;
  return o;
}

// The config's [gallery] table under the command line (--db and the search options).
int resolve_gallery_config(const Common& c, GalleryArgs& a) {
  auto cfg = service_config(c);
  if (!cfg.ok()) return fail(cfg.status());
  a.configured = cfg->gallery;
  if (a.db.empty()) a.db = cfg->gallery.db_url.empty() ? cfg->gallery.db_path : cfg->gallery.db_url;
  if (Status s = set_gallery_database(a.configured, a.db); !s.ok()) return fail(s);
  return 0;
}

// The database as printed: the path, or the URL without user and password.
std::string shown_db(const GalleryArgs& a, const GalleryStats& st) {
  return a.configured.db_url.empty() ? a.db : st.store;
}

enum class Models { kNone, kRecognition, kEnrolment };

// Opens the gallery alone, for the commands that compare nothing.
StatusOr<std::unique_ptr<Gallery>> open_gallery(const GalleryArgs& a) {
  GalleryOptions o = gallery_options(a);
  if (o.match_threshold < 0) o.match_threshold = 0;  // not used: these commands compare nothing
  return Gallery::open(o);
}

// The engine and the gallery, for the commands that embed faces. Enrolment loads, of the
// attribute models, only the pose model (for the pose check). The models that embed a face are
// loaded here, so that a missing model file fails here (exit 1) and a kNotFound later is about
// what the user named. `threshold`, when given, receives the match threshold and its source.
StatusOr<std::unique_ptr<Recognition>> open_recognition(const Common& c, const GalleryArgs& a, Models models,
                                                        ThresholdChoice* threshold = nullptr) {
  FACELENS_ASSIGN_OR_RETURN(auto eo, engine_options(c));
  FACELENS_ASSIGN_OR_RETURN(auto e, Engine::create(eo));
  if (models == Models::kEnrolment && eo.attributes.empty()) {
    for (const auto& s : e->services())
      if (s.service == "attribute" && s.family == "pose") eo.attributes.push_back(s.model_id);
    if (!eo.attributes.empty()) {
      FACELENS_ASSIGN_OR_RETURN(e, Engine::create(eo));
    }
  }
  AnalyzeOptions what;
  what.embedding = true;
  FACELENS_RETURN_IF_ERROR(e->warm_up(what));
  if (threshold) *threshold = match_threshold_choice(c, a.threshold, eo, *e);
  std::shared_ptr<const Engine> engine = std::move(e);
  FACELENS_ASSIGN_OR_RETURN(std::shared_ptr<Gallery> gallery,
                            Gallery::open(gallery_options_for(*engine, gallery_options(a))));
  return Recognition::create(engine, gallery);
}

// A one-line progress bar on stderr when it is a terminal; nothing otherwise.
class Progress {
 public:
  Progress(size_t total, bool enabled) : total_(total), enabled_(enabled && total > 1 && isatty(fileno(stderr))) {}
  void update(size_t done, const std::string& what) {
    if (!enabled_) return;
    constexpr int kWidth = 30;
    const int fill = total_ ? static_cast<int>(kWidth * done / total_) : kWidth;
    std::string label = what.size() > 40 ? "..." + what.substr(what.size() - 37) : what;
    std::fprintf(stderr, "\r[%s%s] %zu/%zu %-40s", std::string(static_cast<size_t>(fill), '#').c_str(),
                 std::string(static_cast<size_t>(kWidth - fill), '.').c_str(), done, total_, label.c_str());
    std::fflush(stderr);
  }
  // Clears the bar before a result line goes to the terminal.
  void clear() {
    if (enabled_) std::fprintf(stderr, "\r%-90s\r", "");
  }
  ~Progress() {
    clear();
    if (enabled_) std::fflush(stderr);
  }

 private:
  size_t total_;
  bool enabled_;
};

bool is_refusal(const Status& s) {
  return s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kOutOfRange ||
         s.code() == StatusCode::kNotFound;
}

EnrollOptions enroll_options(const GalleryArgs& a) {
  EnrollOptions eo;
  if (!a.meta.empty()) eo.metadata_json = a.meta;
  eo.largest_face = a.largest;
  if (a.min_face >= 0) eo.min_face_size = a.min_face;
  if (a.min_sharpness >= 0) eo.min_sharpness = a.min_sharpness;
  if (a.max_pose >= 0) eo.max_pose_degrees = a.max_pose;
  eo.require_live = a.live;
  eo.keep_crop = !a.no_crop;
  return eo;
}

void print_refused(const Common& c, const std::string& path, const std::string& name, const Status& why) {
  if (c.json_out)
    std::cout << json{{"image", path},
                      {"name", name},
                      {"status", "refused"},
                      {"error", {{"code", status_code_name(why.code())}, {"message", why.message()}}}}
                     .dump(-1, ' ', false, kUtf8Replace)
              << "\n";
  else if (why.message().rfind(path, 0) == 0) std::cout << "refused " << why.message() << "\n";
  else std::cout << "refused " << path << ": " << why.message() << "\n";
  std::cout.flush();
}

// Enrols the photos of one person, one line each (after the store's commit for an enrolment).
// Returns the number enrolled, or the failure that stops the command (model, store, runtime).
StatusOr<size_t> enroll_photos(const Common& c, Recognition& gallery, const std::string& name,
                               const std::vector<std::string>& images, const EnrollOptions& eo, Progress& progress,
                               size_t& done) {
  size_t enrolled = 0;
  for (const auto& path : images) {
    progress.update(done, path);
    auto r = gallery.enroll_file(name, path, eo);
    ++done;
    progress.clear();
    if (!r.ok()) {
      if (!is_refusal(r.status())) return r.status();
      print_refused(c, path, name, r.status());
      continue;
    }
    ++enrolled;
    if (c.json_out)
      std::cout << json{{"image", path},
                        {"name", name},
                        {"status", "enrolled"},
                        {"face_id", r->face_id},
                        {"box", format::box_json(r->face.box)},
                        {"sharpness", r2(r->sharpness)},
                        {"faces_in_image", r->n_faces_in_image},
                        {"image_sha256", r->image_sha256}}
                       .dump(-1, ' ', false, kUtf8Replace)
                << "\n";
    else
      std::cout << "enrolled " << name << " from " << path << " (face " << r->face_id << ", sharpness "
                << static_cast<int>(r->sharpness) << ")\n";
    std::cout.flush();
  }
  return enrolled;
}

int cmd_enroll(const Common& c, const GalleryArgs& a) {
  auto images = expand_images(a.images);
  if (!images.ok()) return fail(images.status());
  auto gallery = open_recognition(c, a, Models::kEnrolment);
  if (!gallery.ok()) return fail(gallery.status());
  Progress progress(images->size(), /*enabled=*/true);
  size_t done = 0;
  auto enrolled = enroll_photos(c, **gallery, a.name, *images, enroll_options(a), progress, done);
  if (!enrolled.ok()) return fail(enrolled.status());
  progress.update(done, "");
  if (!c.json_out && images->size() > 1)
    std::cerr << "facelens: " << *enrolled << " of " << images->size() << " images enrolled as '" << a.name << "'\n";
  return *enrolled == images->size() ? 0 : kExitBadInput;
}

// enroll-dir DIR: one subfolder per person, named after it; every photo directly in a subfolder.
// Files directly in DIR and subfolders without photos are reported (nobody to enrol them as).
int cmd_enroll_dir(const Common& c, const GalleryArgs& a) {
  std::error_code ec;
  if (!fs::is_directory(a.file, ec)) {
    std::cerr << "facelens: enroll-dir " << a.file
              << ": not a folder (expected DIR/<name>/<photo>, one subfolder per person)\n";
    return kExitBadInput;
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> people;
  std::vector<std::string> loose;  // photos directly in DIR
  size_t n_photos = 0;
  auto top = read_folder(a.file);
  if (!top.ok()) return fail(top.status());
  loose = top->images;
  for (const auto& d : top->folders) {
    auto photos = read_folder(d);  // an unreadable person's folder stops the run: nothing is guessed
    if (!photos.ok()) return fail(photos.status());
    n_photos += photos->images.size();
    people.push_back({fs::path(d).filename().string(), std::move(photos->images)});
  }
  if (n_photos == 0) {
    std::cerr << "facelens: enroll-dir " << a.file
              << ": no photos in subfolders (expected DIR/<name>/<photo>: .jpg .jpeg .png .webp .bmp)\n";
    return kExitBadInput;
  }
  auto gallery = open_recognition(c, a, Models::kEnrolment);
  if (!gallery.ok()) return fail(gallery.status());
  auto known = (*gallery)->gallery().list();
  if (!known.ok()) return fail(known.status());
  std::set<std::string> existing;
  for (const auto& i : *known) existing.insert(i.name);
  const EnrollOptions eo = enroll_options(a);
  Progress progress(n_photos, /*enabled=*/true);
  size_t done = 0, enrolled = 0, people_enrolled = 0, people_new = 0;
  json per_person = json::array();
  for (const auto& [name, photos] : people) {
    if (photos.empty()) {
      if (c.json_out)
        std::cout << json{{"name", name}, {"status", "skipped"}, {"why", "no photos in the subfolder"}}.dump(
                         -1, ' ', false, kUtf8Replace)
                  << "\n";
      else std::cout << "skipped " << name << ": no photos in the subfolder\n";
      continue;
    }
    auto n = enroll_photos(c, **gallery, name, photos, eo, progress, done);
    if (!n.ok()) return fail(n.status());
    enrolled += *n;
    if (*n > 0) {
      ++people_enrolled;
      people_new += existing.count(name) == 0;
    }
    per_person.push_back({{"name", name}, {"photos", photos.size()}, {"enrolled", *n}});
  }
  progress.update(done, "");
  for (const auto& path : loose)
    print_refused(c, path, "",
                  invalid_argument(path + ": not in a person's subfolder (DIR/<name>/<photo>): not enrolled"));
  const size_t refused = n_photos - enrolled + loose.size();
  if (c.json_out)
    std::cout << json{{"summary",
                       {{"folder", a.file},
                        {"photos", n_photos + loose.size()},
                        {"enrolled", enrolled},
                        {"refused", refused},
                        {"people", per_person.size()},
                        {"people_enrolled", people_enrolled},
                        {"people_new", people_new},
                        {"per_person", per_person}}}}
                     .dump(-1, ' ', false, kUtf8Replace)
              << "\n";
  else
    std::cout << "enroll-dir " << a.file << ": " << enrolled << " of " << n_photos + loose.size()
              << " photos enrolled, " << refused << " refused; " << people_enrolled << " of " << per_person.size()
              << " people enrolled (" << people_new << " new)\n";
  return refused == 0 ? 0 : kExitBadInput;
}

int cmd_list(const Common& c, const GalleryArgs& a) {
  auto gallery = open_gallery(a);
  if (!gallery.ok()) return fail(gallery.status());
  auto list = (*gallery)->list();
  if (!list.ok()) return fail(list.status());
  std::map<std::string, std::vector<FaceInfo>> faces;
  if (a.faces) {
    auto fl = (*gallery)->faces();
    if (!fl.ok()) return fail(fl.status());
    for (auto& f : *fl) faces[f.name].push_back(f);
  }
  const GalleryStats st = (*gallery)->stats();
  if (c.json_out) {
    json ids = json::array();
    for (const auto& i : *list) {
      json j = {{"name", i.name},
                {"faces", i.n_faces},
                {"metadata", json::parse(i.metadata_json, nullptr, false)},
                {"created_at", i.created_at},
                {"updated_at", i.updated_at}};
      if (a.faces) {
        json fj = json::array();
        for (const auto& f : faces[i.name])
          fj.push_back({{"id", f.id},
                        {"model_id", f.model_id},
                        {"quality", r2(f.quality)},
                        {"box", format::box_json(f.box)},
                        {"image_sha256", f.image_sha256},
                        {"has_crop", f.has_crop},
                        {"created_at", f.created_at}});
        j["face_list"] = fj;
      }
      ids.push_back(j);
    }
    const json out{{"db", shown_db(a, st)}, {"model_id", st.model_id}, {"identities", ids}};
    std::cout << out.dump(-1, ' ', false, kUtf8Replace) << "\n";
    return 0;
  }
  std::cout << shown_db(a, st) << ": " << list->size() << " identities, " << st.n_faces << " faces"
            << (st.model_id.empty() ? "" : ", model " + st.model_id) << "\n";
  for (const auto& i : *list) {
    std::cout << "  " << i.name << "  " << i.n_faces << (i.n_faces == 1 ? " face" : " faces") << "  since "
              << i.created_at << (i.metadata_json == "{}" ? "" : "  " + i.metadata_json) << "\n";
    for (const auto& f : faces[i.name])
      std::cout << "    face " << f.id << "  " << f.model_id << "  sharpness " << static_cast<int>(f.quality)
                << (f.has_crop ? "" : "  (no crop)") << "  " << f.created_at << "\n";
  }
  return 0;
}

int cmd_remove(const Common& c, const GalleryArgs& a) {
  auto gallery = open_gallery(a);
  if (!gallery.ok()) return fail(gallery.status());
  Status s = (*gallery)->remove(a.name);
  if (!s.ok()) return fail_input(s);  // an unknown identity: 3
  if (c.json_out) std::cout << json{{"removed", a.name}}.dump(-1, ' ', false, kUtf8Replace) << "\n";
  else std::cout << "removed " << a.name << "\n";
  return 0;
}

int cmd_identify(const Common& c, const GalleryArgs& a) {
  auto images = expand_images(a.images);
  if (!images.ok()) return fail(images.status());
  ThresholdChoice used;
  auto gallery = open_recognition(c, a, Models::kRecognition, &used);
  if (!gallery.ok()) return fail(gallery.status());
  int rc = 0;
  for (const auto& path : *images) {
    auto r = (*gallery)->identify_file(path, a.top_k);
    if (!r.ok()) {
      if (!is_refusal(r.status())) return fail(r.status());
      rc = kExitBadInput;
      if (c.json_out) std::cout << format::error_json(path, r.status()).dump(-1, ' ', false, kUtf8Replace) << "\n";
      std::cerr << "facelens: " << r.status().to_string() << "\n";
      continue;
    }
    if (c.json_out) {
      json j = {{"image", path}};
      j.update(format::to_json(*r));
      j["threshold_source"] = threshold_source_name(used.source);
      std::cout << j.dump(-1, ' ', false, kUtf8Replace) << "\n" << std::flush;
      continue;
    }
    std::printf("%s: %zu %s (threshold %.4f from %s)\n", path.c_str(), r->faces.size(),
                r->faces.size() == 1 ? "face" : "faces", r->threshold, used.describe().c_str());
    for (size_t i = 0; i < r->faces.size(); ++i) {
      const auto& f = r->faces[i];
      std::printf("  #%zu box [%.0f, %.0f, %.0f, %.0f] -> ", i, f.face.box.x1, f.face.box.y1, f.face.box.x2,
                  f.face.box.y2);
      if (f.identity) std::printf("%s (%.3f)\n", f.identity->name.c_str(), f.score);
      else if (!f.matches.empty()) std::printf("unknown (closest: %s %.3f)\n", f.matches[0].name.c_str(), f.score);
      else std::printf("unknown (empty gallery)\n");
    }
    std::fflush(stdout);
  }
  return rc;
}

int cmd_verify(const Common& c, const GalleryArgs& a) {
  ThresholdChoice used;
  auto gallery = open_recognition(c, a, Models::kRecognition, &used);
  if (!gallery.ok()) return fail(gallery.status());
  auto v = (*gallery)->verify_file(a.image, a.name);
  if (!v.ok()) return fail_input(v.status());  // an unknown identity or a missing photo: 3
  if (c.json_out) {
    json j = {{"image", a.image}};
    j.update(format::to_json(*v));
    j["threshold_source"] = threshold_source_name(used.source);
    std::cout << j.dump(-1, ' ', false, kUtf8Replace) << "\n";
  } else
    std::printf("%s vs %s: score %.4f, %s (threshold %.4f from %s)\n", a.image.c_str(), a.name.c_str(), v->score,
                v->match ? "same person" : "not the same person", v->threshold, used.describe().c_str());
  return 0;
}

int cmd_export(const Common& c, const GalleryArgs& a) {
  auto gallery = open_gallery(a);
  if (!gallery.ok()) return fail(gallery.status());
  auto text = (*gallery)->export_json(!a.no_crops);
  if (!text.ok()) return fail(text.status());
  const std::string tmp = a.file + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out << *text << "\n";
    if (!out.good()) return fail(invalid_argument("cannot write " + tmp));
  }
  std::error_code ec;
  fs::rename(tmp, a.file, ec);
  if (ec) return fail(invalid_argument("cannot write " + a.file + ": " + ec.message()));
  const GalleryStats st = (*gallery)->stats();
  if (c.json_out)
    std::cout << json{{"exported", a.file},
                      {"identities", st.n_identities},
                      {"faces", st.n_faces},
                      {"crops", !a.no_crops}}
                     .dump(-1, ' ', false, kUtf8Replace)
              << "\n";
  else
    std::cout << "exported " << st.n_identities << " identities, " << st.n_faces << " faces to " << a.file
              << (a.no_crops ? " (without crops: the importing gallery cannot reembed them)" : "") << "\n";
  return 0;
}

int cmd_import(const Common& c, const GalleryArgs& a) {
  std::ifstream in(a.file, std::ios::binary);
  if (!in) return fail_input(not_found("cannot read " + a.file));
  std::stringstream ss;
  ss << in.rdbuf();
  auto gallery = open_gallery(a);
  if (!gallery.ok()) return fail(gallery.status());
  auto r = (*gallery)->import_json(ss.str());
  if (!r.ok()) return fail(r.status().with_context(a.file));
  if (c.json_out)
    std::cout << json{{"imported", a.file},
                      {"identities", r->n_identities},
                      {"faces", r->n_faces},
                      {"duplicates_skipped", r->n_duplicates}}
                     .dump(-1, ' ', false, kUtf8Replace)
              << "\n";
  else
    std::cout << "imported " << r->n_faces << " faces of " << r->n_identities << " identities from " << a.file
              << (r->n_duplicates ? " (" + std::to_string(r->n_duplicates) + " already enrolled, skipped)" : "")
              << "\n";
  return 0;
}

int cmd_reembed(const Common& c, const GalleryArgs& a) {
  auto gallery = open_recognition(c, a, Models::kRecognition);
  if (!gallery.ok()) return fail(gallery.status());
  std::unique_ptr<Progress> bar;
  auto r = (*gallery)->reembed([&](size_t done, size_t total) {
    if (!bar) bar = std::make_unique<Progress>(total, true);
    bar->update(done, "re-embedding");
  });
  bar.reset();
  if (!r.ok()) return fail(r.status());
  if (c.json_out)
    std::cout << json{{"reembedded", r->n_faces}, {"from", r->from_model}, {"to", r->to_model}}.dump(-1, ' ', false,
                                                                                                     kUtf8Replace)
              << "\n";
  else
    std::cout << "re-embedded " << r->n_faces << " faces: " << (r->from_model.empty() ? "(empty)" : r->from_model)
              << " -> " << r->to_model << "\n";
  return 0;
}

int cmd_check(const Common& c, const GalleryArgs& a) {
  auto gallery = open_gallery(a);
  if (!gallery.ok()) return fail(gallery.status());
  auto ic = (*gallery)->integrity_check();
  if (!ic.ok()) return fail(ic.status());
  // Identity names that are not valid (stored by older versions): listed, renamed with --repair.
  auto names = (*gallery)->check_names(a.repair);
  if (!names.ok()) return fail(names.status());
  const GalleryStats st = (*gallery)->stats();
  if (c.json_out) {
    json bad = json::array();
    for (const auto& p : *names)
      bad.push_back({{"identity_id", p.identity_id},
                     {"name", p.name},
                     {"problem", p.problem},
                     {a.repair ? "renamed_to" : "repair_to", p.repaired}});
    std::cout << json{{"db", shown_db(a, st)}, {"integrity", *ic},     {"identities", st.n_identities},
                      {"faces", st.n_faces},   {"dim", st.dim},        {"model_id", st.model_id},
                      {"index", st.index},     {"invalid_names", bad}, {"repaired", a.repair && !names->empty()}}
                     .dump(-1, ' ', false, kUtf8Replace)
              << "\n";
  } else {
    std::cout << shown_db(a, st) << ": integrity " << *ic << ", " << st.n_identities << " identities, " << st.n_faces
              << " faces, model " << (st.model_id.empty() ? "(none)" : st.model_id) << ", search " << st.index << "\n";
    for (const auto& p : *names)
      std::cout << "identity " << p.identity_id << " '" << p.name << "': " << p.problem
                << (a.repair ? ": renamed to '" : ": `gallery check --repair` renames it to '") << p.repaired << "'\n";
  }
  if (*ic != "ok") return kExitFailure;
  return names->empty() || a.repair ? 0 : kExitFailure;
}

// ---- calibrate ---------------------------------------------------------------------------------

struct CalibrateArgs {
  std::string pairs;
  double far = 1e-3;
  std::string write_config;
  size_t bootstrap = 1000;
  uint64_t seed = 1;
  size_t worst = 5;
  float threshold = -1;  // < 0: the calibrated threshold
  std::vector<std::string> charts = {"roc.svg", "roc.png"};
  bool no_chart = false;
  bool force = false;  // --write-config even with too few different-person pairs for --far
};

bool parse_same(std::string v, bool* out) {
  for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (v == "1" || v == "true" || v == "same" || v == "yes") return *out = true, true;
  if (v == "0" || v == "false" || v == "different" || v == "no") return *out = false, true;
  return false;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n\"");
  const auto e = s.find_last_not_of(" \t\r\n\"");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

struct PairSpec {
  std::string a, b;
  bool same = false;
  std::string person_a, person_b;  // folder names; empty for a CSV (then from the same-person pairs)
};

// CSV "image_a,image_b,same" (same: 1/0, true/false, same/different; a header line is skipped;
// paths relative to the CSV's folder), or a folder of name/image files (every pair of images).
StatusOr<std::vector<PairSpec>> read_pairs(const std::string& path) {
  std::vector<PairSpec> out;
  if (fs::is_directory(path)) {
    std::vector<std::pair<std::string, std::string>> images;  // (person, path)
    FACELENS_ASSIGN_OR_RETURN(auto top, read_folder(path));
    for (const auto& d : top.folders) {
      FACELENS_ASSIGN_OR_RETURN(auto in, read_folder(d));
      for (const auto* v : {&in.images, &in.files})
        for (const auto& f : *v) images.push_back({fs::path(d).filename().string(), f});
    }
    std::sort(images.begin(), images.end());
    for (size_t i = 0; i < images.size(); ++i)
      for (size_t j = i + 1; j < images.size(); ++j)
        out.push_back(
            {images[i].second, images[j].second, images[i].first == images[j].first, images[i].first, images[j].first});
    if (out.empty())
      return invalid_argument(path + ": expected a folder of <name>/<image> files with at least two images");
    return out;
  }
  std::ifstream in(path);
  if (!in) return not_found("cannot read " + path + " (a CSV of image_a,image_b,same or a folder of name/image)");
  const fs::path base = fs::path(path).parent_path();
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (trim(line).empty() || trim(line)[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, ',')) cols.push_back(trim(col));
    bool same = false;
    if (cols.size() != 3 || !parse_same(cols[2], &same)) {
      if (out.empty() && n == 1) continue;  // a header
      return invalid_argument(path + ":" + std::to_string(n) + ": expected image_a,image_b,same (same: 1 or 0)");
    }
    auto resolve = [&](const std::string& p) { return fs::path(p).is_absolute() ? p : (base / p).string(); };
    out.push_back({resolve(cols[0]), resolve(cols[1]), same, "", ""});
  }
  if (out.empty()) return invalid_argument(path + ": no pairs");
  return out;
}

// The identity of every image, numbered from 0: the folder name, or (CSV) the groups of images
// that same-person pairs join (union-find); an image in no such pair is an identity of its own.
std::map<std::string, int> identities_of(const std::vector<PairSpec>& specs) {
  std::map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> root = [&](const std::string& x) -> std::string {
    auto it = parent.find(x);
    if (it == parent.end() || it->second == x) return x;
    return it->second = root(it->second);
  };
  for (const auto& p : specs) {
    const std::string ka = p.person_a.empty() ? "image:" + p.a : "person:" + p.person_a;
    const std::string kb = p.person_b.empty() ? "image:" + p.b : "person:" + p.person_b;
    parent.try_emplace(ka, ka);
    parent.try_emplace(kb, kb);
    if (p.same) parent[root(ka)] = root(kb);
  }
  std::map<std::string, int> root_id, out;
  for (const auto& p : specs)
    for (const auto& [img, person] : {std::pair{p.a, p.person_a}, std::pair{p.b, p.person_b}}) {
      const std::string r = root(person.empty() ? "image:" + img : "person:" + person);
      const int id = root_id.try_emplace(r, static_cast<int>(root_id.size())).first->second;
      out[img] = id;
    }
  return out;
}

std::string format_threshold(float t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", t);
  return buf;
}

// Sets [recognizer] match_threshold in a TOML config (the project's facelens.toml), keeping every
// other line; or {"recognizer": {"match_threshold": t}} in a .json file.
Status write_threshold(const std::string& path, float t) {
  std::string text;
  if (fs::exists(path)) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  std::string out;
  if (fs::path(path).extension() == ".json") {
    json j = text.empty() ? json::object() : json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return invalid_argument(path + " is not a JSON object");
    j["recognizer"]["match_threshold"] = std::stod(format_threshold(t));
    out = j.dump(2, ' ', false, kUtf8Replace) + "\n";
  } else {
    std::vector<std::string> lines;
    std::stringstream ss(text);
    std::string line;
    while (std::getline(ss, line)) lines.push_back(line);
    const std::string value = "match_threshold = " + format_threshold(t);
    auto section =
        std::find_if(lines.begin(), lines.end(), [](const std::string& l) { return trim(l) == "[recognizer]"; });
    if (section == lines.end()) {
      if (!lines.empty() && !trim(lines.back()).empty()) lines.push_back("");
      lines.push_back("[recognizer]");
      lines.push_back(value);
    } else {
      auto it = section + 1;
      bool done = false;
      for (; it != lines.end() && (trim(*it).empty() || trim(*it)[0] != '['); ++it) {
        const std::string l = trim(*it);
        if (l.rfind("match_threshold", 0) == 0 && l.find('=') != std::string::npos) {
          *it = value;
          done = true;
          break;
        }
      }
      if (!done) lines.insert(section + 1, value);
    }
    for (const auto& l : lines) out += l + "\n";
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    f << out;
    if (!f.good()) return invalid_argument("cannot write " + tmp);
  }
  if (fs::path(path).extension() != ".json") {
    // The result must still be a config facelens reads.
    auto check = load_config(tmp, EngineOptions{});
    if (!check.ok()) {
      fs::remove(tmp);
      return invalid_argument("not writing " + path +
                              ": the edited config would not load: " + check.status().message());
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return invalid_argument("cannot write " + path + ": " + ec.message());
  return Status::Ok();
}

int cmd_calibrate(const Common& c, const CalibrateArgs& a) {
  auto specs = read_pairs(a.pairs);
  if (!specs.ok()) return fail_input(specs.status());
  auto eo = engine_options(c);
  if (!eo.ok()) return fail(eo.status());
  auto engine = Engine::create(*eo);
  if (!engine.ok()) return fail(engine.status());
  AnalyzeOptions what;
  what.embedding = true;
  std::set<std::string> paths;
  for (const auto& p : *specs) paths.insert(p.a), paths.insert(p.b);
  std::map<std::string, std::vector<float>> emb;
  json skipped = json::array();
  Progress progress(paths.size(), true);
  size_t done = 0;
  for (const auto& p : paths) {
    progress.update(done++, p);
    auto r = (*engine)->analyze_file(p, what);
    if (!r.ok() || r->faces.empty()) {
      skipped.push_back({{"image", p}, {"why", r.ok() ? "no face" : r.status().to_string()}});
      continue;
    }
    emb[p] = r->faces[largest_face(r->faces)].embedding;
  }
  progress.clear();
  const std::map<std::string, int> identity = identities_of(*specs);
  std::vector<ScoredPair> pairs;
  std::vector<std::pair<std::string, std::string>> pair_images;  // beside pairs
  for (const auto& p : *specs) {
    auto ia = emb.find(p.a), ib = emb.find(p.b);
    if (ia == emb.end() || ib == emb.end()) continue;
    pairs.push_back(
        {(*engine)->compare(ia->second, ib->second).similarity, p.same, identity.at(p.a), identity.at(p.b)});
    pair_images.push_back({p.a, p.b});
  }
  auto at_far = threshold_for_far(pairs, a.far);
  if (!at_far.ok()) return fail(at_far.status());
  // Rounded up to 4 decimals: still at most the target FAR, and readable in a config.
  const float threshold = std::ceil(at_far->threshold * 10000.f) / 10000.f;
  const ErrorRates chosen = rates_at(pairs, threshold);
  const ErrorRates best = best_accuracy(pairs);
  const ThresholdChoice current_choice = match_threshold_choice(c, -1, *eo, **engine);
  const ErrorRates current = rates_at(pairs, current_choice.value);
  AccuracyOptions ao;
  ao.n_resamples = a.bootstrap;
  ao.seed = a.seed;
  auto acc = accuracy_with_ci(pairs, ao);
  if (!acc.ok()) return fail(acc.status());
  const float worst_at = a.threshold >= 0 ? a.threshold : threshold;
  const WorstErrors worst = worst_errors(pairs, worst_at, a.worst);
  auto rates_json = [](const ErrorRates& r) {
    return json{{"threshold", r4(r.threshold)},
                {"far", r.far},
                {"frr", r.frr},
                {"tar", 1 - r.frr},
                {"accuracy", r.accuracy},
                {"false_accepts", r.false_accepts},
                {"false_rejects", r.false_rejects}};
  };
  auto pairs_json = [&](const std::vector<size_t>& idx) {
    json arr = json::array();
    for (size_t i : idx)
      arr.push_back(
          {{"image_a", pair_images[i].first}, {"image_b", pair_images[i].second}, {"score", r4(pairs[i].score)}});
    return arr;
  };
  // The ROC, thinned to at most ~100 points for reading.
  auto roc = roc_curve(pairs);
  json roc_j = json::array();
  const size_t step = std::max<size_t>(1, roc.size() / 100);
  for (size_t i = 0; i < roc.size(); i += step)
    roc_j.push_back({{"threshold", r4(roc[i].threshold)}, {"far", roc[i].far}, {"tar", roc[i].tar}});
  size_t n_same = 0;
  for (const auto& p : pairs) n_same += p.same;
  const size_t n_diff = pairs.size() - n_same;
  json tar_j = json::array();
  for (const auto& t : acc->tar_at_far)
    tar_j.push_back({{"far", t.far},
                     {"tar", t.tar.value},
                     {"ci", {t.tar.lo, t.tar.hi}},
                     {"threshold", r4(t.threshold)},
                     {"resolved", t.resolved}});

  // The ROC chart: one per file stem, in the formats asked for.
  json charts_j = json::array();
  std::vector<std::string> chart_notes;
  if (!a.no_chart && !a.charts.empty()) {
    auto written = write_roc_charts(pairs, *acc, ao, a.charts);
    if (!written.ok()) return fail(written.status());
    for (const auto& f : written->written) charts_j.push_back(f);
    chart_notes = written->notes;
  }

  json out = {
      {"pairs", pairs.size()},
      {"genuine_pairs", n_same},
      {"impostor_pairs", n_diff},
      {"images", emb.size()},
      {"identities", acc->n_identities},
      {"auc", acc->auc.value},
      {"auc_ci", {acc->auc.lo, acc->auc.hi}},
      {"eer", acc->eer.value},
      {"eer_ci", {acc->eer.lo, acc->eer.hi}},
      {"eer_threshold", r4(acc->eer_threshold)},
      {"tar_at_far", tar_j},
      {"bootstrap",
       {{"over", "identities"}, {"resamples", acc->n_resamples}, {"seed", a.seed}, {"confidence", ao.confidence}}},
      {"target_far", a.far},
      {"far_resolution", n_diff ? 1.0 / static_cast<double>(n_diff) : 1.0},
      {"threshold", r4(threshold)},
      {"at_threshold", rates_json(chosen)},
      {"at_current_threshold", rates_json(current)},
      {"current_threshold_source", threshold_source_name(current_choice.source)},
      {"best_accuracy", rates_json(best)},
      {"worst",
       {{"threshold", r4(worst_at)},
        {"false_accepts", pairs_json(worst.false_accepts)},
        {"false_rejects", pairs_json(worst.false_rejects)}}},
      {"roc", roc_j},
      {"charts", charts_j},
      {"chart_notes", chart_notes},
      {"skipped", skipped}};
  // --write-config: only a threshold the pairs can vouch for (3 / FAR different-person pairs, the
  // rule of three), unless --force; the old threshold and the new one are printed.
  const size_t needed = impostor_pairs_needed(a.far);
  const bool too_few = n_diff < needed;
  std::string refusal;
  std::optional<ThresholdChoice> previous;
  if (!a.write_config.empty() && too_few && !a.force) {
    refusal = "not writing " + a.write_config + ": " + std::to_string(n_diff) +
              " different-person pairs cannot show a FAR of " + json(a.far).dump() + " (that needs at least " +
              (needed == std::numeric_limits<size_t>::max() ? std::string("infinitely many: a FAR of 0 cannot be shown")
                                                            : std::to_string(needed) + " = 3 / FAR") +
              "), so the threshold " + format_threshold(threshold) +
              " may let more strangers through than asked. Add photos of more people, raise --far, or pass --force "
              "to write it anyway";
    out["write_refused"] = refusal;
  } else if (!a.write_config.empty()) {
    // The threshold commands reading that file used until now: its own, else the manifest's (or
    // that of the --config this command ran with).
    std::error_code ec;
    if (fs::exists(a.write_config, ec))
      if (auto old = load_config(a.write_config, EngineOptions{}); old.ok() && old->match_threshold >= 0)
        previous = ThresholdChoice{old->match_threshold, ThresholdSource::kConfig, a.write_config};
    if (!previous) previous = match_threshold_choice(c, -1, *eo, **engine);
    Status s = write_threshold(a.write_config, threshold);
    if (!s.ok()) return fail(s);
    out["written_to"] = a.write_config;
    out["previous_threshold"] = {{"threshold", r4(previous->value)},
                                 {"source", threshold_source_name(previous->source)}};
    if (too_few) out["forced"] = true;
  }
  if (c.json_out) {
    std::cout << out.dump(-1, ' ', false, kUtf8Replace) << "\n";
  } else {
    std::printf("%zu pairs (%zu same person, %zu different) from %zu images of %zu identities\n", pairs.size(), n_same,
                n_diff, emb.size(), acc->n_identities);
    std::printf("95%% intervals: bootstrap over identities, %zu resamples, seed %llu\n", acc->n_resamples,
                static_cast<unsigned long long>(a.seed));
    std::printf("ROC AUC %.5f [%.5f, %.5f]\n", acc->auc.value, acc->auc.lo, acc->auc.hi);
    std::printf("EER %.5f [%.5f, %.5f] at threshold %.4f\n", acc->eer.value, acc->eer.lo, acc->eer.hi,
                acc->eer_threshold);
    for (const auto& t : acc->tar_at_far)
      std::printf("TAR at FAR %.0e: %.5f [%.5f, %.5f] at threshold %.4f%s\n", t.far, t.tar.value, t.tar.lo, t.tar.hi,
                  t.threshold, t.resolved ? "" : " (not resolved: too few different-person pairs; FAR 0 shown)");
    std::printf("threshold for FAR <= %g: %.4f (FAR %.5f, FRR %.5f)\n", a.far, threshold, chosen.far, chosen.frr);
    std::printf("current threshold %.4f (from %s): FAR %.5f, FRR %.5f; best accuracy %.4f at %.4f\n", current.threshold,
                current_choice.describe().c_str(), current.far, current.frr, best.accuracy, best.threshold);
    if (too_few)
      std::printf(
          "note: %zu different-person pairs cannot show a FAR of %g (3 / FAR = %s needed): the threshold only "
          "sits above the highest impostor score seen\n",
          n_diff, a.far,
          needed == std::numeric_limits<size_t>::max() ? "infinitely many" : std::to_string(needed).c_str());
    auto print_pairs = [&](const char* what, const std::vector<size_t>& idx) {
      std::printf("worst %s at threshold %.4f:%s\n", what, worst_at, idx.empty() ? " none" : "");
      for (size_t i : idx)
        std::printf("  %.4f  %s  %s\n", pairs[i].score, pair_images[i].first.c_str(), pair_images[i].second.c_str());
    };
    print_pairs("false accepts", worst.false_accepts);
    print_pairs("false rejects", worst.false_rejects);
    for (const auto& f : charts_j) std::printf("ROC chart: %s\n", f.get<std::string>().c_str());
    for (const auto& n : chart_notes) std::printf("ROC chart: %s\n", n.c_str());
    if (previous)
      std::printf("wrote [recognizer] match_threshold = %.4f to %s%s (was %.4f from %s)\n", threshold,
                  a.write_config.c_str(), too_few ? " (--force)" : "", previous->value, previous->describe().c_str());
    if (!skipped.empty()) std::printf("%zu images skipped (no face or unreadable)\n", skipped.size());
  }
  if (!refusal.empty()) {
    std::fflush(stdout);
    std::cerr << "facelens: " << refusal << "\n";
    return kExitUsage;
  }
  return 0;
}

}  // namespace

void register_gallery_commands(CLI::App& app, Common& common, std::vector<Runner>& runners) {
  auto a = std::make_shared<GalleryArgs>();
  auto* gallery =
      app.add_subcommand("gallery",
                         "enrol people and recognise them (SQLite or PostgreSQL): enroll, enroll-dir, list, "
                         "remove, identify, verify, export, import, reembed, check");
  gallery->require_subcommand(1);

  // Each gallery command: its subcommand with the common gallery options, run with the config's
  // [gallery] table under the command line.
  auto subcommand = [&](const char* name, const char* help, int (*run)(const Common&, const GalleryArgs&)) {
    CLI::App* cmd = gallery->add_subcommand(name, help);
    add_gallery_options(cmd, common, *a);
    runners.push_back([cmd, a, &common, run]() -> std::optional<int> {
      if (!*cmd) return std::nullopt;
      if (int rc = resolve_gallery_config(common, *a)) return rc;
      return run(common, *a);
    });
    return cmd;
  };

  // The enrolment checks, shared by enroll and enroll-dir.
  auto add_checks = [a](CLI::App* cmd) {
    cmd->add_flag("--largest", a->largest, "photos with several faces: enrol the largest (else refused)");
    cmd->add_option("--min-face", a->min_face, "minimum face size in pixels (shorter box side; default 40, 0 = off)");
    cmd->add_option("--min-sharpness", a->min_sharpness,
                    "minimum variance of the Laplacian of the aligned face (default 40, 0 = off)");
    cmd->add_option("--max-pose", a->max_pose,
                    "maximum |yaw| and |pitch| in degrees with a pose model (default 45, 0 = off)");
    cmd->add_flag("--live", a->live, "refuse photos the liveness model takes for a spoof");
    cmd->add_flag("--no-crop", a->no_crop, "do not keep the aligned face crop (then `gallery reembed` cannot redo it)");
  };
  auto* enroll = subcommand("enroll", "enrol NAME from one or more photos (one face each)", cmd_enroll);
  enroll->add_option("name", a->name, "identity name (created when new)")->required();
  enroll->add_option("images", a->images, "photos of that person, or folders of them (the photos directly in each)")
      ->required();
  enroll->add_option("--meta", a->meta, "JSON object stored with the identity, e.g. '{\"employee_id\": 42}'");
  add_checks(enroll);

  auto* enroll_dir = subcommand("enroll-dir",
                                "enrol everyone in DIR: one subfolder per person, named after it (DIR/<name>/<photo>); "
                                "exit 0 when every photo was enrolled, 3 when any was refused",
                                cmd_enroll_dir);
  enroll_dir->add_option("dir", a->file, "folder of <name>/<photo> files")->required();
  add_checks(enroll_dir);

  auto* list = subcommand("list", "identities with their number of faces", cmd_list);
  list->add_flag("--faces", a->faces, "also list each face (model, sharpness, crop kept)");

  auto* remove = subcommand("remove", "remove an identity and its faces", cmd_remove);
  remove->add_option("name", a->name, "identity name")->required();

  auto* identify = subcommand("identify", "who is in each photo? (unknown below the threshold)", cmd_identify);
  identify->add_option("images", a->images, "photos, or folders of them (the photos directly in each)")->required();
  identify->add_option("--top-k", a->top_k, "identities listed per face")->capture_default_str();

  auto* verify = subcommand("verify", "is the largest face of IMG the enrolled NAME?", cmd_verify);
  verify->add_option("image", a->image, "photo")->required();
  verify->add_option("name", a->name, "enrolled identity")->required();

  auto* exp = subcommand("export", "write the gallery to a JSON file", cmd_export);
  exp->add_option("file", a->file, "JSON file to write")->required();
  exp->add_flag("--no-crops", a->no_crops, "leave the aligned crops out (smaller; the copy cannot be re-embedded)");

  auto* imp = subcommand("import", "add the identities of a `gallery export` file", cmd_import);
  imp->add_option("file", a->file, "JSON file from `facelens gallery export`")->required();

  subcommand("reembed", "recompute every embedding from the stored crops with the current recognizer", cmd_reembed);
  auto* check = subcommand("check", "SQLite integrity check, invalid identity names and gallery statistics", cmd_check);
  check->add_flag("--repair", a->repair,
                  "rename identities whose stored names are not valid UTF-8 names to their escaped form (\\xHH)");

  auto ca = std::make_shared<CalibrateArgs>();
  auto* calibrate = app.add_subcommand("calibrate", "ROC, AUC and the match threshold for a target false-accept rate");
  add_common(calibrate, common);
  calibrate->add_option("--pairs", ca->pairs, "CSV of image_a,image_b,same (1/0), or a folder of <name>/<image> files")
      ->required();
  calibrate->add_option("--far", ca->far, "target false-accept rate")->capture_default_str();
  calibrate
      ->add_option("--bootstrap", ca->bootstrap, "resamples of the identities for the 95% intervals (0: no intervals)")
      ->capture_default_str();
  calibrate->add_option("--seed", ca->seed, "seed of the bootstrap (same seed, same intervals)")->capture_default_str();
  calibrate->add_option("--worst", ca->worst, "how many of the worst false accepts and false rejects to list")
      ->capture_default_str();
  calibrate->add_option("--threshold", ca->threshold,
                        "list the worst errors at this threshold (default: the calibrated one for --far)");
  calibrate->add_option("--chart", ca->charts, "ROC chart file(s) to write, .png or .svg (gnuplot)")
      ->capture_default_str();
  calibrate->add_flag("--no-chart", ca->no_chart, "write no ROC chart");
  calibrate->add_option("--write-config", ca->write_config,
                        "write the threshold as [recognizer] match_threshold into this config (facelens.toml; "
                        "a .json file gets {\"recognizer\": {\"match_threshold\": t}}); refused (exit 2) with "
                        "fewer than 3/FAR different-person pairs");
  calibrate->add_flag("--force", ca->force, "--write-config even with fewer than 3/FAR different-person pairs");
  runners.push_back([calibrate, ca, &common]() -> std::optional<int> {
    if (!*calibrate) return std::nullopt;
    return cmd_calibrate(common, *ca);
  });
}

}  // namespace facelens::cli
