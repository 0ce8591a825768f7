// One gallery file, several Gallery objects (as a server and the CLI hold it): each sees the
// others' enrolments, removals and renames through the store's change log; face ids are never
// reused; schema version 1 files are migrated; identity names are validated everywhere and rows
// stored with invalid names are listed, exported, identified and repaired without failing.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "facelens/gallery.h"
#include "gallery/store.h"

namespace facelens {
namespace {

namespace fs = std::filesystem;
constexpr int kDim = 8;

// A unit vector along `axis`.
std::vector<float> axis(int a) {
  std::vector<float> v(kDim, 0.f);
  v[static_cast<size_t>(a)] = 1.f;
  return v;
}

EmbeddingEnrollment face(const std::string& name, int a, const std::string& sha = "") {
  EmbeddingEnrollment e;
  e.name = name;
  e.embedding = axis(a);
  e.model_id = "model_a";
  e.image_sha256 = sha;
  return e;
}

// Runs SQL on the file with a plain connection (as a hand edit or an older facelens would).
void run_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in " << sql;
  sqlite3_free(err);
  sqlite3_close(db);
}

class GallerySyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("facelens_gsync_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "g.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  // sync_interval_ms = 0: every call checks for other writers (no waiting in unit tests).
  std::unique_ptr<Gallery> open() {
    GalleryOptions o;
    o.db_path = path_;
    o.match_threshold = 0.5f;
    o.sync_interval_ms = 0;
    auto g = Gallery::open(o);
    EXPECT_TRUE(g.ok()) << g.status().to_string();
    return g.ok() ? std::move(*g) : nullptr;
  }
  static std::optional<std::string> who(const Gallery& g, int a) {
    auto r = g.identify_embedding(axis(a), "model_a", 3);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok() || !r->identity) return std::nullopt;
    return r->identity->name;
  }
  fs::path dir_;
  std::string path_;
};

TEST_F(GallerySyncTest, EachGallerySeesTheOthersWrites) {
  auto server = open();
  auto cli = open();
  ASSERT_TRUE(server && cli);
  ASSERT_TRUE(server->enroll_embeddings(std::vector{face("ada", 0)}).ok());

  // Enrolled elsewhere: identified here.
  auto bob = cli->enroll_embeddings(std::vector{face("bob", 1, "bb")});
  ASSERT_TRUE(bob.ok()) << bob.status().to_string();
  EXPECT_EQ(who(*server, 1), "bob");
  EXPECT_EQ(who(*server, 0), "ada");
  EXPECT_EQ(server->stats().n_identities, 2u);

  // Removed elsewhere: no longer identified, and verify agrees with the store (not found).
  ASSERT_TRUE(cli->remove("bob").ok());
  EXPECT_EQ(who(*server, 1), std::nullopt);
  EXPECT_EQ(server->verify_embedding(axis(1), "model_a", "bob").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(server->remove("bob").code(), StatusCode::kNotFound);

  // The other process wrote last (and took the next ids): an enrolment here still succeeds, with
  // an id never used before, and both see it.
  ASSERT_TRUE(cli->enroll_embeddings(std::vector{face("cy", 2)}).ok());
  auto dee = server->enroll_embeddings(std::vector{face("dee", 3)});
  ASSERT_TRUE(dee.ok()) << dee.status().to_string();
  EXPECT_GT(dee->at(0), bob->at(0));
  EXPECT_EQ(who(*server, 2), "cy");
  EXPECT_EQ(who(*cli, 3), "dee");
  // The image of the removed face can be enrolled again (its row is gone everywhere).
  auto again = server->enroll_embeddings(std::vector{face("bob", 1, "bb")});
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_EQ(who(*cli, 1), "bob");
  EXPECT_EQ(cli->stats().n_faces, server->stats().n_faces);
}

TEST_F(GallerySyncTest, FaceIdsAreNeverReused) {
  auto g = open();
  auto first = g->enroll_embeddings(std::vector{face("ada", 0), face("bob", 1)});
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(g->remove("bob").ok());  // the highest id
  auto next = g->enroll_embeddings(std::vector{face("cy", 2)});
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->at(0), first->at(1));
  // Across reopening too.
  ASSERT_TRUE(g->remove("cy").ok());
  g.reset();
  auto g2 = open();
  auto after = g2->enroll_embeddings(std::vector{face("dee", 3)});
  ASSERT_TRUE(after.ok());
  EXPECT_GT(after->at(0), next->at(0));
}

TEST_F(GallerySyncTest, RemoveAndReEnrolElsewhereIsSeenInOrder) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a->enroll_embeddings(std::vector{face("ada", 0)}).ok());
  ASSERT_EQ(who(*b, 0), "ada");
  // Elsewhere: ada removed and enrolled again with another face, before this one looks.
  ASSERT_TRUE(b->remove("ada").ok());
  ASSERT_TRUE(b->enroll_embeddings(std::vector{face("ada", 4)}).ok());
  EXPECT_EQ(who(*a, 0), std::nullopt);
  EXPECT_EQ(who(*a, 4), "ada");
  EXPECT_EQ(a->stats().n_faces, 1u);
}

TEST_F(GallerySyncTest, AReaderTooFarBehindReloads) {
  auto a = open();
  ASSERT_TRUE(a->enroll_embeddings(std::vector{face("ada", 0)}).ok());
  {
    // Another writer whose log keeps only 2 changes: a's next sync finds a gap and reloads.
    gallery::SqliteStoreOptions so;
    so.path = path_;
    so.change_log_rows = 2;
    auto store = gallery::open_sqlite_store(so);
    ASSERT_TRUE(store.ok()) << store.status().to_string();
    for (int i = 1; i <= 4; ++i) {
      gallery::NewIdentityFaces item;
      item.name = "p" + std::to_string(i);
      gallery::StoredFace f;
      f.embedding = axis(i);
      f.model_id = "model_a";
      item.faces.push_back(f);
      ASSERT_TRUE((*store)->add({&item, 1}).ok());
    }
    auto log = (*store)->changes_since(0, 100);
    ASSERT_TRUE(log.ok());
    EXPECT_TRUE(log->gap);
  }
  EXPECT_EQ(who(*a, 3), "p3");
  EXPECT_EQ(who(*a, 0), "ada");
  EXPECT_EQ(a->stats().n_identities, 5u);
}

TEST_F(GallerySyncTest, MigratesVersion1Files) {
  // The version 1 schema (ids without AUTOINCREMENT), as facelens wrote it before.
  run_sql(path_, R"sql(
    PRAGMA journal_mode=WAL;
    CREATE TABLE schema_version (version INTEGER NOT NULL);
    INSERT INTO schema_version VALUES (1);
    CREATE TABLE identities (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,
      metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)), created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE faces (id INTEGER PRIMARY KEY, identity_id INTEGER NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
      embedding BLOB NOT NULL, dim INTEGER NOT NULL, model_id TEXT NOT NULL, quality REAL NOT NULL DEFAULT 0,
      box_x1 REAL NOT NULL, box_y1 REAL NOT NULL, box_x2 REAL NOT NULL, box_y2 REAL NOT NULL, image_sha256 TEXT,
      crop BLOB, crop_width INTEGER NOT NULL DEFAULT 0, crop_height INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
    CREATE INDEX faces_identity ON faces(identity_id);
    CREATE UNIQUE INDEX faces_image ON faces(image_sha256) WHERE image_sha256 IS NOT NULL;
    INSERT INTO identities VALUES (7, 'ada', '{"k": 1}', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z');
    INSERT INTO faces VALUES (41, 7, x'0000803F00000000000000000000000000000000000000000000000000000000', 8, 'model_a', 55,
      1, 2, 3, 4, 'aa', NULL, 0, 0, '2026-01-01T00:00:00.000Z');
  )sql");
  auto g = open();
  ASSERT_TRUE(g);
  EXPECT_EQ(who(*g, 0), "ada");
  auto list = g->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].id, 7);
  EXPECT_EQ((*list)[0].metadata_json, "{\"k\": 1}");
  auto faces = g->faces();
  ASSERT_TRUE(faces.ok());
  ASSERT_EQ(faces->size(), 1u);
  EXPECT_EQ((*faces)[0].id, 41);
  EXPECT_EQ((*faces)[0].image_sha256, "aa");
  // Removing ada (face 41, the highest) and enrolling: the id is not reused after migration.
  ASSERT_TRUE(g->remove("ada").ok());
  auto next = g->enroll_embeddings(std::vector{face("bob", 1)});
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->at(0), 41);
  EXPECT_EQ(*g->integrity_check(), "ok");
  // Foreign keys still cascade: removing bob leaves no face behind.
  ASSERT_TRUE(g->remove("bob").ok());
  EXPECT_TRUE(g->faces()->empty());
}

TEST(IdentityNames, ValidUtf8WithinTheLimit) {
  EXPECT_TRUE(validate_identity_name("ada").ok());
  EXPECT_TRUE(validate_identity_name("Zoë 山田 🙂").ok());
  EXPECT_TRUE(validate_identity_name(std::string(kMaxIdentityNameBytes, 'a')).ok());
  for (const std::string& bad :
       {std::string(), std::string(kMaxIdentityNameBytes + 1, 'a'), std::string("\xFF\xFE"), std::string("a\xC3"),
        std::string("\xC0\x80"), std::string("\xED\xA0\x80"), std::string("\xF4\x90\x80\x80"), std::string("a\nb"),
        std::string("a\x7F"), std::string("a\0b", 3)}) {
    Status s = validate_identity_name(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << display_identity_name(bad);
  }
}

TEST(IdentityNames, DisplayFormIsValidAndKeepsValidNames) {
  EXPECT_EQ(display_identity_name("Zoë"), "Zoë");
  EXPECT_EQ(display_identity_name("\xFF\xFE"), "\\xFF\\xFE");
  EXPECT_EQ(display_identity_name("a\nb\xC3"), "a\\x0Ab\\xC3");
  EXPECT_EQ(display_identity_name(""), "?");
  const std::string long_bad = std::string(300, '\xFF');
  EXPECT_TRUE(validate_identity_name(display_identity_name(long_bad)).ok());
  EXPECT_TRUE(validate_identity_name(display_identity_name(std::string(300, 'a') + "\xFF")).ok());
}

TEST_F(GallerySyncTest, InvalidNamesAreRefusedAndNothingIsCommitted) {
  auto g = open();
  for (const std::string& bad :
       {std::string("\xFF\xFE"), std::string(kMaxIdentityNameBytes + 1, 'x'), std::string("a\tb")}) {
    auto r = g->enroll_embeddings(std::vector{face(bad, 0)});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(g->remove(bad).code(), StatusCode::kInvalidArgument);
  }
  const std::string bad_import =
      std::string(R"({"format": "facelens-gallery", "version": 1, "identities": [{"name": ")") + "\\u0001" +
      R"(", "faces": [{"model_id": "model_a", "embedding": [1,0,0,0,0,0,0,0]}]}]})";
  EXPECT_EQ(g->import_json(bad_import).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(g->list()->empty());
  EXPECT_EQ(g->stats().n_faces, 0u);
  // The store refuses them too (a second line of defence for other callers).
  gallery::SqliteStoreOptions so;
  so.path = path_;
  auto store = gallery::open_sqlite_store(so);
  ASSERT_TRUE(store.ok());
  gallery::NewIdentityFaces item;
  item.name = "\xFF";
  EXPECT_EQ((*store)->add({&item, 1}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(GallerySyncTest, StoredInvalidNamesAreShownEscapedAndRepaired) {
  auto g = open();
  ASSERT_TRUE(g->enroll_embeddings(std::vector{face("ok", 0)}).ok());
  // Rows as older versions stored them: invalid UTF-8, and one whose escaped form is taken.
  ASSERT_TRUE(g->enroll_embeddings(std::vector{face("\\xFF\\xFE", 2)}).ok());
  run_sql(
      path_,
      "INSERT INTO identities(name, created_at, updated_at) VALUES (CAST(x'FFFE' AS TEXT), 'x', 'x');"
      "INSERT INTO faces(identity_id, embedding, dim, model_id, box_x1, box_y1, box_x2, box_y2, created_at) "
      "SELECT id, x'000000000000803F000000000000000000000000000000000000000000000000', 8, 'model_a', 0, 0, 1, 1, 'x' "
      "FROM identities WHERE name = CAST(x'FFFE' AS TEXT);");
  auto other = open();  // a fresh process loads it
  ASSERT_TRUE(other);

  auto list = other->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  for (const auto& i : *list) EXPECT_TRUE(validate_identity_name(i.name).ok()) << i.name;
  auto id = other->identify_embedding(axis(1), "model_a", 3);
  ASSERT_TRUE(id.ok()) << id.status().to_string();
  ASSERT_TRUE(id->identity);
  EXPECT_EQ(id->identity->name, "\\xFF\\xFE");
  auto exported = other->export_json(false);
  ASSERT_TRUE(exported.ok()) << exported.status().to_string();
  auto doc = nlohmann::json::parse(*exported, nullptr, false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_EQ(doc["identities"].size(), 3u);
  // The already running gallery lists it too (the store is read directly); a row written outside
  // facelens records no change, so its index learns of it with the repair's rename below.
  EXPECT_TRUE(g->list().ok());
  EXPECT_EQ(g->list()->size(), 3u);

  auto problems = other->check_names(false);
  ASSERT_TRUE(problems.ok());
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_EQ((*problems)[0].name, "\\xFF\\xFE");
  EXPECT_NE((*problems)[0].problem.find("UTF-8"), std::string::npos);
  EXPECT_EQ((*problems)[0].repaired, "\\xFF\\xFE~2");  // the escaped form is taken

  auto repaired = other->check_names(true);
  ASSERT_TRUE(repaired.ok());
  ASSERT_EQ(repaired->size(), 1u);
  EXPECT_TRUE(other->check_names(false)->empty());
  // Renamed through the change log: the first gallery identifies it under its new name.
  EXPECT_EQ(who(*g, 1), "\\xFF\\xFE~2");
  EXPECT_EQ(who(*other, 1), "\\xFF\\xFE~2");
  EXPECT_TRUE(g->remove("\\xFF\\xFE~2").ok());
  EXPECT_EQ(who(*other, 1), std::nullopt);
}

}  // namespace
}  // namespace facelens
