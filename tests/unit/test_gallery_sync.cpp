// One gallery file, several Gallery objects (as a server and the CLI hold it): each sees the
// others' enrolments, removals and renames through the store's change log; face ids are never
// reused; schema version 1 files are migrated; identity names are validated everywhere and rows
// stored with invalid names are listed, exported, identified and repaired without failing.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/gallery_backend.h"
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

using testing::Backend;

// One SQLite file in a fresh folder, or one database on a PostgreSQL server of the test's own.
class SyncFixture : public testing::GalleryBackendFixture {
 protected:
  void start(Backend backend) { GalleryBackendFixture::start(backend, "facelens_gsync", "g.db"); }
  GalleryOptions options() const {
    GalleryOptions o;
    o.db_path = path_;
    if (backend_ == Backend::kPostgres) o.db_url = url_;
    o.match_threshold = 0.5f;
    o.sync_interval_ms = 0;
    return o;
  }
  // sync_interval_ms = 0: every call checks for other writers (no waiting in unit tests).
  std::unique_ptr<Gallery> open() { return open(options()); }
  std::unique_ptr<Gallery> open(const GalleryOptions& o) {
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
};

// The cases every backend must pass.
class GallerySyncTest : public SyncFixture, public ::testing::WithParamInterface<Backend> {
 protected:
  void SetUp() override { start(GetParam()); }
};
INSTANTIATE_TEST_SUITE_P(Backends, GallerySyncTest, testing::all_backends(), testing::backend_test_name);

class SqliteSyncTest : public SyncFixture {
 protected:
  void SetUp() override { start(Backend::kSqlite); }
};

class PgSyncTest : public SyncFixture {
 protected:
  void SetUp() override { start(Backend::kPostgres); }
};

TEST_P(GallerySyncTest, EachGallerySeesTheOthersWrites) {
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

TEST_P(GallerySyncTest, FaceIdsAreNeverReused) {
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

TEST_P(GallerySyncTest, RemoveAndReEnrolElsewhereIsSeenInOrder) {
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

// Adding a face to an existing identity only: decided inside the write, so an identity removed or
// renamed by another writer after a check is not created again under the old name.
TEST_P(GallerySyncTest, AFaceForAnExistingIdentityOnlyIsRefusedOnceItIsGone) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a->enroll_embeddings(std::vector{face("ada", 0), face("bob", 1)}).ok());
  ASSERT_TRUE(a->check_identity("ada").ok());  // the route's early check passes...
  ASSERT_TRUE(b->remove("ada").ok());          // ...then another writer removes ada
  ASSERT_TRUE(b->rename("bob", "robert").ok());
  auto late = face("ada", 2);
  late.must_exist = true;
  auto r = a->enroll_embeddings(std::vector{late});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << r.status().to_string();
  auto renamed = face("bob", 3);
  renamed.must_exist = true;
  EXPECT_EQ(a->enroll_embeddings(std::vector{renamed}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(a->check_identity("ada").code(), StatusCode::kNotFound);
  EXPECT_EQ(a->check_identity("bob").code(), StatusCode::kNotFound);
  EXPECT_EQ(a->stats().n_faces, 1u);  // robert's face only: nothing was written
  auto kept = face("robert", 4);
  kept.must_exist = true;
  auto ok = a->enroll_embeddings(std::vector{kept});
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(who(*b, 4), "robert");
}

TEST_P(GallerySyncTest, FaceRemovalRenameAndMetadataReachTheOtherGallery) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  auto ids = a->enroll_embeddings(std::vector{face("ada", 0, "a0"), face("ada", 1, "a1"), face("bob", 2, "b2")});
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  ASSERT_EQ(who(*b, 1), "ada");

  // One face removed here: the other no longer finds it, and still finds the identity's other face.
  EXPECT_EQ(a->remove_face("ada", ids->at(2)).code(), StatusCode::kNotFound);  // bob's face
  EXPECT_EQ(a->remove_face("nobody", ids->at(0)).code(), StatusCode::kNotFound);
  ASSERT_TRUE(a->remove_face("ada", ids->at(1)).ok());
  EXPECT_EQ(who(*b, 1), std::nullopt);
  EXPECT_EQ(who(*b, 0), "ada");
  EXPECT_EQ(b->stats().n_faces, 2u);
  auto faces = b->faces("ada");
  ASSERT_TRUE(faces.ok()) << faces.status().to_string();
  ASSERT_EQ(faces->size(), 1u);
  EXPECT_EQ(faces->at(0).id, ids->at(0));

  // Renamed here: identified under the new name there; the old name is gone; a taken name refused.
  EXPECT_EQ(a->rename("ada", "bob").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(a->rename("nobody", "x").code(), StatusCode::kNotFound);
  EXPECT_EQ(a->rename("ada", std::string("bad\x01name")).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(a->rename("ada", "ada lovelace").ok());
  EXPECT_EQ(who(*b, 0), "ada lovelace");
  EXPECT_EQ(b->verify_embedding(axis(0), "model_a", "ada").status().code(), StatusCode::kNotFound);
  auto v = b->verify_embedding(axis(0), "model_a", "ada lovelace");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_TRUE(v->match);

  // Metadata set here: read there; not an object: refused.
  EXPECT_EQ(a->set_metadata("bob", "[1, 2]").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->set_metadata("nobody", "{}").code(), StatusCode::kNotFound);
  const int64_t before = b->sync_state().applied_seq;
  ASSERT_TRUE(a->set_metadata("bob", R"({"team": "z"})").ok());
  auto bob = b->identity("bob");
  ASSERT_TRUE(bob.ok()) << bob.status().to_string();
  EXPECT_EQ(nlohmann::json::parse(bob->metadata_json)["team"], "z");
  EXPECT_EQ(who(*b, 2), "bob");  // a search applies the change (it changes nothing in memory)
  EXPECT_GT(b->sync_state().applied_seq, before);
  EXPECT_EQ(b->sync_state().lag, 0);

  // The last face removed: the identity stays, without faces; verify against it is not found.
  ASSERT_TRUE(b->remove_face("bob", ids->at(2)).ok());
  EXPECT_EQ(who(*a, 2), std::nullopt);
  auto empty = a->identity("bob");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->n_faces, 0);
  EXPECT_EQ(a->verify_embedding(axis(2), "model_a", "bob").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(a->stats().n_identities, 2u);
  // A third gallery opened now (a full load) agrees.
  auto c = open();
  EXPECT_EQ(c->stats().n_faces, 1u);
  EXPECT_EQ(who(*c, 0), "ada lovelace");
}

TEST_P(GallerySyncTest, ARenameWithMetadataIsOneChangeTheOtherGalleryApplies) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  EmbeddingEnrollment ada = face("ada", 0, "a0");
  ada.metadata_json = R"({"team": "x"})";
  ASSERT_TRUE(a->enroll_embeddings(std::vector{ada, face("bob", 1, "b1")}).ok());
  ASSERT_EQ(who(*b, 0), "ada");
  const int64_t before = b->sync_state().applied_seq;

  // A taken name with metadata: refused, and neither is seen there.
  Status taken = a->update_identity("ada", {.name = "bob", .metadata_json = R"({"team": "y"})"});
  EXPECT_EQ(taken.code(), StatusCode::kFailedPrecondition) << taken.to_string();
  EXPECT_NE(taken.message().find("metadata was not changed"), std::string::npos) << taken.message();
  EXPECT_EQ(who(*b, 0), "ada");
  EXPECT_EQ(nlohmann::json::parse(b->identity("ada")->metadata_json)["team"], "x");
  EXPECT_EQ(b->sync_state().applied_seq, before);
  EXPECT_EQ(a->update_identity("ada", {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->update_identity("ada", {.name = "ada l.", .metadata_json = "[1]"}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(a->update_identity("nobody", {.name = "x", .metadata_json = "{}"}).code(), StatusCode::kNotFound);

  // Both at once: one change of the log; the other gallery identifies and verifies under the new
  // name, no longer knows the old one, and reads the new metadata.
  ASSERT_TRUE(a->update_identity("ada", {.name = "ada lovelace", .metadata_json = R"({"team": "y"})"}).ok());
  EXPECT_EQ(who(*b, 0), "ada lovelace");
  EXPECT_EQ(b->sync_state().applied_seq, before + 1);
  EXPECT_EQ(b->sync_state().lag, 0);
  EXPECT_EQ(b->check_identity("ada").code(), StatusCode::kNotFound);
  auto v = b->verify_embedding(axis(0), "model_a", "ada lovelace");
  ASSERT_TRUE(v.ok()) << v.status().to_string();
  EXPECT_TRUE(v->match);
  auto info = b->identity("ada lovelace");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_EQ(nlohmann::json::parse(info->metadata_json)["team"], "y");
  EXPECT_EQ(info->n_faces, 1);
  // The same name again with new metadata writes only the metadata (no rename to itself).
  ASSERT_TRUE(b->update_identity("ada lovelace", {.name = "ada lovelace", .metadata_json = R"({"team": "z"})"}).ok());
  auto store = open_store();
  ASSERT_TRUE(store);
  auto log = store->changes_since(before, 100);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(log->changes.size(), 2u);
  EXPECT_EQ(log->changes[0].kind, gallery::ChangeKind::kRenameIdentity);
  EXPECT_EQ(log->changes[1].kind, gallery::ChangeKind::kUpdateIdentity);
  EXPECT_EQ(who(*a, 0), "ada lovelace");
  EXPECT_EQ(nlohmann::json::parse(a->identity("ada lovelace")->metadata_json)["team"], "z");
}

TEST_P(GallerySyncTest, ACropIsReadBackAndAPerCallThresholdDecides) {
  auto g = open();
  EmbeddingEnrollment with = face("ada", 0, "a0");
  with.crop.width = 2;
  with.crop.height = 2;
  with.crop.pixels = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  auto ids = g->enroll_embeddings(std::vector{with, face("ada", 1, "a1")});
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  auto crop = g->crop(ids->at(0));
  ASSERT_TRUE(crop.ok()) << crop.status().to_string();
  EXPECT_EQ(crop->width, 2);
  EXPECT_EQ(crop->pixels, with.crop.pixels);
  EXPECT_EQ(g->crop(ids->at(1)).status().code(), StatusCode::kNotFound);  // stored without a crop
  EXPECT_EQ(g->crop(999999).status().code(), StatusCode::kNotFound);

  // A probe at cosine 0.6 of ada's face 0: a match at the gallery's 0.5, not at 0.7.
  std::vector<float> probe(kDim, 0.f);
  probe[0] = 0.6f;
  probe[3] = 0.8f;
  auto at_gallery = g->identify_embedding(probe, "model_a", 3);
  ASSERT_TRUE(at_gallery.ok());
  EXPECT_TRUE(at_gallery->identity.has_value());
  auto strict = g->identify_embedding(probe, "model_a", 3, 0.7f);
  ASSERT_TRUE(strict.ok());
  EXPECT_FALSE(strict->identity.has_value());
  EXPECT_NEAR(strict->score, 0.6f, 1e-5);
  EXPECT_TRUE(g->verify_embedding(probe, "model_a", "ada")->match);
  auto v = g->verify_embedding(probe, "model_a", "ada", 0.7f);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->match);
  EXPECT_FLOAT_EQ(v->threshold, 0.7f);
  EXPECT_EQ(g->identify_embedding(probe, "model_a", 3, 1.5f).status().code(), StatusCode::kInvalidArgument);
}

TEST_P(GallerySyncTest, AReaderTooFarBehindReloads) {
  auto a = open();
  ASSERT_TRUE(a->enroll_embeddings(std::vector{face("ada", 0)}).ok());
  {
    // Another writer whose log keeps only 2 changes: a's next sync finds a gap and reloads.
    auto store = open_store(/*change_log_rows=*/2);
    ASSERT_TRUE(store);
    for (int i = 1; i <= 4; ++i) {
      gallery::NewIdentityFaces item;
      item.name = "p" + std::to_string(i);
      gallery::StoredFace f;
      f.embedding = axis(i);
      f.model_id = "model_a";
      item.faces.push_back(f);
      ASSERT_TRUE(store->add({&item, 1}).ok());
    }
    auto log = store->changes_since(0, 100);
    ASSERT_TRUE(log.ok());
    EXPECT_TRUE(log->gap);
  }
  EXPECT_EQ(who(*a, 3), "p3");
  EXPECT_EQ(who(*a, 0), "ada");
  EXPECT_EQ(a->stats().n_identities, 5u);
}

TEST_F(SqliteSyncTest, MigratesVersion1Files) {
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

TEST_P(GallerySyncTest, InvalidNamesAreRefusedAndNothingIsCommitted) {
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
  auto store = open_store();
  ASSERT_TRUE(store);
  gallery::NewIdentityFaces item;
  item.name = "\xFF";
  EXPECT_EQ(store->add({&item, 1}).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SqliteSyncTest, StoredInvalidNamesAreShownEscapedAndRepaired) {
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

// Polls `done` every 10 ms for up to `ms` milliseconds; true once it holds.
template <class F>
bool eventually(F done, int ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

TEST_F(PgSyncTest, AChangeIsAppliedWithoutASearchWithinOneSecond) {
  GalleryOptions o = options();
  o.sync_interval_ms = 3600 * 1000;  // searches never look: only the notification can bring it
  auto a = open(o);
  auto b = open(o);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(who(*b, 0), std::nullopt);
  ASSERT_TRUE(a->enroll_embeddings(std::vector{face("ada", 0)}).ok());
  const int64_t seq = a->sync_state().applied_seq;
  EXPECT_GT(seq, 0);
  EXPECT_TRUE(eventually([&] { return b->sync_state().applied_seq >= seq; }, 1000));
  EXPECT_EQ(who(*b, 0), "ada");
  // A second face, then one face removed and the identity renamed: each applied there by the
  // notification, without a search.
  auto second = a->enroll_embeddings(std::vector{face("ada", 1)});
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(a->remove_face("ada", second->at(0)).ok());
  const int64_t face_removed = a->sync_state().applied_seq;
  EXPECT_TRUE(eventually([&] { return b->sync_state().applied_seq >= face_removed; }, 1000));
  EXPECT_EQ(b->stats().n_faces, 1u);
  EXPECT_EQ(who(*b, 1), std::nullopt);
  ASSERT_TRUE(a->rename("ada", "ada l.").ok());
  const int64_t renamed = a->sync_state().applied_seq;
  EXPECT_TRUE(eventually([&] { return b->sync_state().applied_seq >= renamed; }, 1000));
  EXPECT_EQ(who(*b, 0), "ada l.");
  ASSERT_TRUE(a->remove("ada l.").ok());
  const int64_t removed = a->sync_state().applied_seq;
  EXPECT_TRUE(eventually([&] { return b->sync_state().applied_seq >= removed; }, 1000));
  EXPECT_EQ(who(*b, 0), std::nullopt);
  const GallerySyncState st = b->sync_state();
  EXPECT_TRUE(st.shared);
  EXPECT_TRUE(st.connected);
  EXPECT_TRUE(st.ready());
  EXPECT_EQ(st.lag, 0);
  EXPECT_EQ(st.store, "postgresql://127.0.0.1:" + std::to_string(pg_->port()) + "/gallery");
  EXPECT_GE(st.check_age_ms, 0);
}

TEST_F(PgSyncTest, AnOutageIsRefusedNotAnsweredStaleThenCaughtUp) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a->enroll_embeddings(std::vector{face("p" + std::to_string(i), i)}).ok());
  EXPECT_EQ(who(*b, 2), "p2");
  ASSERT_TRUE(pg_->stop_immediate()) << pg_->last_error();
  // The watcher sees its connection go: disconnected without any call.
  ASSERT_TRUE(eventually([&] { return !b->sync_state().connected; }, 3000));
  EXPECT_FALSE(b->sync_state().ready());
  EXPECT_NE(b->sync_state().error.find("is unreachable"), std::string::npos) << b->sync_state().error;
  auto r = b->identify_embedding(axis(2), "model_a", 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("the gallery database at postgresql://"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(a->enroll_embeddings(std::vector{face("lost", 5)}).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(b->remove("p0").code(), StatusCode::kUnavailable);

  ASSERT_TRUE(pg_->restart()) << pg_->last_error();
  ASSERT_TRUE(eventually([&] { return b->sync_state().ready(); }, 5000)) << b->sync_state().error;
  StatusOr<std::vector<int64_t>> dee = unavailable("not yet");
  ASSERT_TRUE(eventually(
      [&] {
        dee = a->enroll_embeddings(std::vector{face("dee", 3)});
        return dee.ok();
      },
      3000))
      << dee.status().to_string();
  // Nothing acknowledged was lost; the change made after the restart reached the other replica.
  ASSERT_TRUE(eventually([&] { return b->sync_state().applied_seq >= a->sync_state().applied_seq; }, 1000));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(who(*b, i), "p" + std::to_string(i));
  EXPECT_EQ(who(*b, 3), "dee");
  EXPECT_EQ(who(*b, 5), std::nullopt);
  EXPECT_EQ(b->stats().n_faces, 4u);
  EXPECT_TRUE(a->sync_state().connected);
}

TEST_F(PgSyncTest, TwoReplicasEnrollingOneNameAtOnceMakeOneIdentityWithBothFaces) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  Status ra, rb;
  std::thread ta([&] { ra = a->enroll_embeddings(std::vector{face("same", 0, "img-a")}).status(); });
  std::thread tb([&] { rb = b->enroll_embeddings(std::vector{face("same", 1, "img-b")}).status(); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.ok()) << ra.to_string();
  ASSERT_TRUE(rb.ok()) << rb.to_string();
  auto list = a->list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].n_faces, 2);
  for (const Gallery* g : {a.get(), b.get()}) {
    EXPECT_EQ(who(*g, 0), "same");
    EXPECT_EQ(who(*g, 1), "same");
    EXPECT_EQ(g->stats().n_faces, 2u);
  }
}

TEST(GalleryDatabaseUrl, APathOrAPostgresUrlElseAnError) {
  GalleryOptions o;
  ASSERT_TRUE(set_gallery_database(o, "postgresql://ada:pw@db:5432/g").ok());
  EXPECT_EQ(o.db_url, "postgresql://ada:pw@db:5432/g");
  ASSERT_TRUE(set_gallery_database(o, "postgres://db/g").ok());
  EXPECT_EQ(o.db_url, "postgres://db/g");
  ASSERT_TRUE(set_gallery_database(o, "data/g.db").ok());
  EXPECT_EQ(o.db_path, "data/g.db");
  EXPECT_TRUE(o.db_url.empty());
  for (const std::string bad : {"mysql://db/g", "sqlite://g.db", "http://x"}) {
    Status s = set_gallery_database(o, bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("postgresql://"), std::string::npos) << s.message();
  }
  EXPECT_EQ(o.db_path, "data/g.db");
}

TEST(GalleryDatabaseUrl, AUrlNeverBecomesASqliteFolder) {
  const fs::path dir = fs::temp_directory_path() / ("facelens_gurl_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path cwd = fs::current_path();
  fs::current_path(dir);
  GalleryOptions o;
  o.match_threshold = 0.5f;
  o.db_path = "postgresql://facelens@127.0.0.1:1/g";  // a URL where a path belongs: refused
  auto g = Gallery::open(o);
  EXPECT_EQ(g.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("db_url"), std::string::npos) << g.status().message();
  o.db_path = "./data/gallery.db";
  o.db_url = "mysql://db/g";
  EXPECT_EQ(Gallery::open(o).status().code(), StatusCode::kInvalidArgument);
  // Nothing listens on port 1: unreachable, said plainly, and no file anywhere.
  o.db_url = "postgresql://facelens:secret@127.0.0.1:1/g";
  auto down = Gallery::open(o);
  EXPECT_EQ(down.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(down.status().message().find("the gallery database at postgresql://127.0.0.1:1/g is unreachable"),
            std::string::npos)
      << down.status().message();
  EXPECT_EQ(down.status().message().find("secret"), std::string::npos);
  EXPECT_TRUE(fs::is_empty(dir));
  fs::current_path(cwd);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace facelens
