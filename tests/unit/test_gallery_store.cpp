// The SQLite gallery store: schema, transactions, duplicates, cascade, round trips, reopening.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <thread>

#include "common/gallery_backend.h"
#include "gallery/store.h"

namespace facelens::gallery {
namespace {

namespace fs = std::filesystem;

using testing::Backend;

// A fresh folder per test (SQLite: the file in a subfolder the store creates), or a fresh
// PostgreSQL server and database (removed afterwards).
class StoreFixture : public testing::GalleryBackendFixture {
 protected:
  void start(Backend backend) {
    GalleryBackendFixture::start(backend, "facelens_store", fs::path("sub") / "gallery.db");
  }
  StatusOr<std::unique_ptr<Store>> try_open() { return try_open_store(); }
  std::unique_ptr<Store> open() { return open_store(); }
  static StoredFace face(float seed, const std::string& sha = "") {
    StoredFace f;
    f.embedding = {seed, seed + 1, seed + 2, -seed};
    f.model_id = "model_a";
    f.quality = seed * 10;
    f.box = {seed, 2 * seed, 3 * seed, 4 * seed};
    f.image_sha256 = sha;
    return f;
  }
};

// The cases every backend must pass.
class StoreTest : public StoreFixture, public ::testing::WithParamInterface<Backend> {
 protected:
  void SetUp() override { start(GetParam()); }
};
INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, testing::all_backends(), testing::backend_test_name);

class SqliteStoreTest : public StoreFixture {
 protected:
  void SetUp() override { start(Backend::kSqlite); }
};

class PgStoreTest : public StoreFixture {
 protected:
  void SetUp() override { start(Backend::kPostgres); }
};

TEST_F(SqliteStoreTest, CreatesFolderSchemaAndWal) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_EQ(*store->integrity_check(), "ok");
  EXPECT_TRUE(store->identities()->empty());
  EXPECT_EQ(store->describe(), "sqlite:" + path_);
  // The journal mode is persistent in the file: a plain connection sees WAL.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "SELECT version FROM schema_version", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 2);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_P(StoreTest, AddsFindsAndPersists) {
  {
    auto store = open();
    NewIdentityFaces ada{"ada", std::string(R"({"team":"x"})"), {face(1, "aa"), face(2, "bb")}, "", ""};
    NewIdentityFaces bob{"bob", std::nullopt, {face(3)}, "", ""};
    std::vector<NewIdentityFaces> items = {ada, bob};
    auto added = store->add(items);
    ASSERT_TRUE(added.ok()) << added.status().to_string();
    ASSERT_EQ(added->size(), 3u);
    EXPECT_EQ((*added)[0].identity_id, (*added)[1].identity_id);
    EXPECT_NE((*added)[0].identity_id, (*added)[2].identity_id);
  }
  auto store = open();  // reopened: everything is there
  auto ids = store->identities();
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 2u);
  EXPECT_EQ((*ids)[0].name, "ada");
  EXPECT_EQ((*ids)[0].n_faces, 2);
  EXPECT_EQ((*ids)[0].metadata, R"({"team":"x"})");
  EXPECT_EQ((*ids)[1].metadata, "{}");
  EXPECT_FALSE((*ids)[0].created_at.empty());
  auto owner = store->find_image("bb");
  ASSERT_TRUE(owner.ok() && owner->has_value());
  EXPECT_EQ((*owner)->name, "ada");
  EXPECT_FALSE(store->find_image("cc")->has_value());
  std::vector<StoredFace> faces;
  ASSERT_TRUE(store
                  ->for_each_face(false,
                                  [&](StoredFace&& f) {
                                    faces.push_back(std::move(f));
                                    return Status::Ok();
                                  })
                  .ok());
  ASSERT_EQ(faces.size(), 3u);
  EXPECT_EQ(faces[1].embedding, face(2).embedding);  // bit-exact through the BLOB
  EXPECT_EQ(faces[1].model_id, "model_a");
  EXPECT_FLOAT_EQ(faces[1].box.y2, 8.f);
  EXPECT_FLOAT_EQ(faces[1].quality, 20.f);
  EXPECT_EQ(faces[2].image_sha256, "");
  EXPECT_EQ(*store->model_ids(), std::vector<std::string>{"model_a"});
}

TEST_P(StoreTest, DuplicateImageRefusedAndNothingAdded) {
  auto store = open();
  std::vector<NewIdentityFaces> first = {{"ada", std::nullopt, {face(1, "same")}, "", ""}};
  ASSERT_TRUE(store->add(first).ok());
  // The second item's duplicate aborts the whole call: "bob" must not exist afterwards.
  std::vector<NewIdentityFaces> second = {{"bob", std::nullopt, {face(2, "other")}, "", ""},
                                          {"carl", std::nullopt, {face(3, "same")}, "", ""}};
  auto r = store->add(second);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("already enrolled as 'ada'"), std::string::npos) << r.status().message();
  EXPECT_EQ(store->identities()->size(), 1u);
  EXPECT_FALSE(store->find_image("other")->has_value());
  // Twice in one call is a duplicate too.
  std::vector<NewIdentityFaces> twice = {{"dan", std::nullopt, {face(4, "x"), face(5, "x")}, "", ""}};
  EXPECT_FALSE(store->add(twice).ok());
  EXPECT_EQ(store->identities()->size(), 1u);
}

TEST_P(StoreTest, InvalidMetadataRefused) {
  auto store = open();
  std::vector<NewIdentityFaces> items = {{"ada", std::string("{not json"), {face(1)}, "", ""}};
  auto r = store->add(items);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos);
}

TEST_P(StoreTest, RemoveCascadesToFaces) {
  auto store = open();
  std::vector<NewIdentityFaces> items = {{"ada", std::nullopt, {face(1, "a1"), face(2, "a2")}, "", ""},
                                         {"bob", std::nullopt, {face(3, "b1")}, "", ""}};
  auto added = store->add(items);
  ASSERT_TRUE(added.ok());
  auto removed = store->remove_identity("ada");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, (std::vector<int64_t>{(*added)[0].face_id, (*added)[1].face_id}));
  EXPECT_FALSE(store->find_image("a1")->has_value());  // faces went with the identity
  size_t n = 0;
  ASSERT_TRUE(store
                  ->for_each_face(false,
                                  [&](StoredFace&&) {
                                    ++n;
                                    return Status::Ok();
                                  })
                  .ok());
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(store->remove_identity("ada").status().code(), StatusCode::kNotFound);
  // The image can be enrolled again once its identity is gone.
  std::vector<NewIdentityFaces> again = {{"ada", std::nullopt, {face(1, "a1")}, "", ""}};
  EXPECT_TRUE(store->add(again).ok());
}

TEST_P(StoreTest, CropsAndEmbeddingUpdates) {
  auto store = open();
  StoredFace f = face(1, "a1");
  f.crop.width = 4;
  f.crop.height = 2;
  std::mt19937 rng(7);
  for (int i = 0; i < 4 * 2 * 3; ++i) f.crop.pixels.push_back(static_cast<uint8_t>(rng()));
  std::vector<NewIdentityFaces> items = {{"ada", std::nullopt, {f}, "", ""}};
  auto added = store->add(items);
  ASSERT_TRUE(added.ok());
  StoredFace read;
  ASSERT_TRUE(store
                  ->for_each_face(true,
                                  [&](StoredFace&& x) {
                                    read = std::move(x);
                                    return Status::Ok();
                                  })
                  .ok());
  EXPECT_TRUE(read.has_crop);
  EXPECT_EQ(read.crop.width, 4);
  EXPECT_EQ(read.crop.pixels, f.crop.pixels);
  std::vector<EmbeddingUpdate> up = {{(*added)[0].face_id, {0.5f, 0.5f}, "model_b"}};
  ASSERT_TRUE(store->update_embeddings(up).ok());
  EXPECT_EQ(*store->model_ids(), std::vector<std::string>{"model_b"});
  // An unknown face id rolls the whole update back.
  std::vector<EmbeddingUpdate> bad = {{(*added)[0].face_id, {1.f}, "model_c"}, {999, {1.f}, "model_c"}};
  EXPECT_EQ(store->update_embeddings(bad).code(), StatusCode::kNotFound);
  EXPECT_EQ(*store->model_ids(), std::vector<std::string>{"model_b"});
}

TEST_P(StoreTest, KeepsGivenTimestamps) {
  auto store = open();
  StoredFace f = face(1);
  f.created_at = "2020-01-02T03:04:05.000Z";
  std::vector<NewIdentityFaces> items = {
      {"ada", std::nullopt, {f}, "2019-01-01T00:00:00.000Z", "2019-06-01T00:00:00.000Z"}};
  ASSERT_TRUE(store->add(items).ok());
  auto ada = store->find_identity("ada");
  ASSERT_TRUE(ada.ok() && ada->has_value());
  EXPECT_EQ((*ada)->created_at, "2019-01-01T00:00:00.000Z");
  EXPECT_EQ((*ada)->updated_at, "2019-06-01T00:00:00.000Z");
  std::string created;
  ASSERT_TRUE(store
                  ->for_each_face(false,
                                  [&](StoredFace&& x) {
                                    created = x.created_at;
                                    return Status::Ok();
                                  })
                  .ok());
  EXPECT_EQ(created, "2020-01-02T03:04:05.000Z");
}

TEST_F(SqliteStoreTest, RefusesNewerSchemaAndNonDatabase) {
  { open(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  SqliteStoreOptions o;
  o.path = path_;
  auto s = open_sqlite_store(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("newer facelens"), std::string::npos);

  const std::string junk = (dir_ / "junk.db").string();
  FILE* fp = std::fopen(junk.c_str(), "wb");
  ASSERT_TRUE(fp);
  std::fputs("this is not a database, not at all, just some text that is long enough", fp);
  std::fclose(fp);
  o.path = junk;
  auto j = open_sqlite_store(o);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument) << j.status().to_string();
}

TEST_P(StoreTest, ChangeLogIsConsecutiveAndRenamesAreLogged) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->last_change(), 0);
  std::vector<NewIdentityFaces> items = {{"ada", std::nullopt, {face(1, "a1"), face(2, "a2")}, "", ""},
                                         {"bob", std::nullopt, {}, "", ""}};
  auto added = store->add(items);
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  EXPECT_EQ(store->last_write().first, 1);
  EXPECT_EQ(store->last_write().last, 3);  // two faces, one identity without faces
  // A refused write takes no sequence number.
  std::vector<NewIdentityFaces> dup = {{"cy", std::nullopt, {face(3, "a1")}, "", ""}};
  EXPECT_FALSE(store->add(dup).ok());
  auto bob = store->find_identity("bob");
  ASSERT_TRUE(bob.ok() && bob->has_value());
  ASSERT_TRUE(store->update_identity((*bob)->id, {.name = "bobby", .metadata_json = std::nullopt}).ok());
  EXPECT_EQ(store->update_identity((*bob)->id, {.name = "ada", .metadata_json = std::nullopt}).code(),
            StatusCode::kFailedPrecondition);  // taken
  EXPECT_EQ(store->update_identity(999, {.name = "x", .metadata_json = std::nullopt}).code(), StatusCode::kNotFound);
  ASSERT_TRUE(store->remove_identity("ada").ok());
  EXPECT_EQ(*store->last_change(), 5);
  auto log = store->changes_since(0, 100);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_FALSE(log->gap);
  ASSERT_EQ(log->changes.size(), 5u);
  const std::vector<ChangeKind> kinds = {ChangeKind::kAddFace, ChangeKind::kAddFace, ChangeKind::kAddIdentity,
                                         ChangeKind::kRenameIdentity, ChangeKind::kRemoveIdentity};
  for (size_t i = 0; i < kinds.size(); ++i) {
    EXPECT_EQ(log->changes[i].seq, static_cast<int64_t>(i + 1));
    EXPECT_EQ(log->changes[i].kind, kinds[i]) << i;
  }
  EXPECT_FALSE(log->changes[0].face_exists);  // ada's faces were removed since
  EXPECT_EQ(log->changes[3].name, "bobby");
  auto later = store->changes_since(4, 100);
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->changes.size(), 1u);
  EXPECT_EQ(later->changes[0].seq, 5);
  // Another store object on the same database sees the same log.
  auto other = open();
  ASSERT_TRUE(other);
  EXPECT_EQ(*other->last_change(), 5);
  EXPECT_EQ(other->last_write().last, 0);
}

TEST_P(StoreTest, RemovesOneFaceSetsMetadataAndReadsOneFaceOrOneIdentitysFaces) {
  auto store = open();
  ASSERT_TRUE(store);
  StoredFace with_crop = face(1, "a1");
  with_crop.crop.width = 2;
  with_crop.crop.height = 3;
  for (int i = 0; i < 2 * 3 * 3; ++i) with_crop.crop.pixels.push_back(static_cast<uint8_t>(i * 7));
  std::vector<NewIdentityFaces> items = {{"ada", std::nullopt, {with_crop, face(2, "a2")}, "", ""},
                                         {"bob", std::nullopt, {face(3, "b1")}, "", ""}};
  auto added = store->add(items);
  ASSERT_TRUE(added.ok()) << added.status().to_string();
  ASSERT_EQ(added->size(), 3u);
  const int64_t ada = (*added)[0].identity_id, bob = (*added)[2].identity_id;
  const int64_t a1 = (*added)[0].face_id, a2 = (*added)[1].face_id, b1 = (*added)[2].face_id;

  // One identity's faces, in id order, without crops but saying which have one.
  auto faces = store->identity_faces(ada);
  ASSERT_TRUE(faces.ok()) << faces.status().to_string();
  ASSERT_EQ(faces->size(), 2u);
  EXPECT_EQ((*faces)[0].id, a1);
  EXPECT_TRUE((*faces)[0].has_crop);
  EXPECT_TRUE((*faces)[0].crop.empty());
  EXPECT_FALSE((*faces)[1].has_crop);
  EXPECT_EQ((*faces)[1].box.x2, 6.f);
  EXPECT_TRUE(store->identity_faces(999)->empty());

  // One face, with its crop when asked.
  auto found = store->find_face(a1, /*with_crop=*/true);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->crop.pixels, with_crop.crop.pixels);
  EXPECT_EQ((*found)->crop.height, 3);
  EXPECT_EQ((*found)->identity_id, ada);
  EXPECT_FALSE(store->find_face(999, true)->has_value());

  // A face of another identity is not removed through this one.
  EXPECT_EQ(store->remove_face(ada, b1).code(), StatusCode::kNotFound);
  EXPECT_EQ(store->remove_face(ada, 999).code(), StatusCode::kNotFound);
  const int64_t before = *store->last_change();
  ASSERT_TRUE(store->remove_face(ada, a1).ok());
  EXPECT_FALSE(store->find_face(a1, false)->has_value());
  ASSERT_EQ(store->identity_faces(ada)->size(), 1u);
  // The last face: the identity stays, without faces.
  ASSERT_TRUE(store->remove_face(ada, a2).ok());
  auto still = store->find_identity("ada");
  ASSERT_TRUE(still.ok() && still->has_value());
  EXPECT_EQ((*still)->n_faces, 0);
  EXPECT_EQ(store->identity_faces(bob)->size(), 1u);

  // Metadata replaced; anything but JSON refused and nothing written.
  ASSERT_TRUE(store->update_identity(bob, {.name = std::nullopt, .metadata_json = R"({"team":"y","n":2})"}).ok());
  EXPECT_NE(store->find_identity("bob")->value().metadata.find("\"team\""), std::string::npos);
  EXPECT_EQ(store->update_identity(bob, {.name = std::nullopt, .metadata_json = "{not json"}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->update_identity(999, {.name = std::nullopt, .metadata_json = "{}"}).code(), StatusCode::kNotFound);
  EXPECT_NE(store->find_identity("bob")->value().metadata.find("\"n\""), std::string::npos);

  // Each write is one change of the log, in order; refused ones take no number.
  auto log = store->changes_since(before, 100);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(log->changes.size(), 3u);
  EXPECT_EQ(log->changes[0].kind, ChangeKind::kRemoveFace);
  EXPECT_EQ(log->changes[0].face_id, a1);
  EXPECT_EQ(log->changes[0].identity_id, ada);
  EXPECT_EQ(log->changes[1].kind, ChangeKind::kRemoveFace);
  EXPECT_EQ(log->changes[2].kind, ChangeKind::kUpdateIdentity);
  EXPECT_EQ(log->changes[2].identity_id, bob);
  EXPECT_EQ(*store->last_change(), before + 3);
}

TEST_P(StoreTest, ARenameWithMetadataIsOneWriteOfOneChangeOrNothing) {
  auto store = open();
  ASSERT_TRUE(store);
  std::vector<NewIdentityFaces> items = {{"ada", R"({"team":"x"})", {face(1, "a1")}, "", ""},
                                         {"bob", std::nullopt, {face(2, "b1")}, "", ""}};
  ASSERT_TRUE(store->add(items).ok());
  const int64_t ada = store->find_identity("ada")->value().id;
  const int64_t before = *store->last_change();
  auto unchanged = [&](const char* what) {
    auto found = store->find_identity("ada");
    ASSERT_TRUE(found.ok() && found->has_value()) << what;
    EXPECT_EQ((*found)->metadata.find("\"y\""), std::string::npos) << what << ": " << (*found)->metadata;
    EXPECT_NE((*found)->metadata.find("\"x\""), std::string::npos) << what << ": " << (*found)->metadata;
    EXPECT_EQ(*store->last_change(), before) << what << ": a refused update recorded a change";
  };

  // A taken name: refused, and the metadata of the same update is not written either.
  EXPECT_EQ(store->update_identity(ada, {.name = "bob", .metadata_json = R"({"team":"y"})"}).code(),
            StatusCode::kFailedPrecondition);
  unchanged("taken name");
  // Metadata that is not JSON: refused, and the name of the same update is not written either.
  EXPECT_EQ(store->update_identity(ada, {.name = "ada lovelace", .metadata_json = "{not json"}).code(),
            StatusCode::kInvalidArgument);
  unchanged("bad metadata");
  EXPECT_FALSE(store->find_identity("ada lovelace")->has_value());
  // An invalid name, an update setting nothing, an unknown identity: refused, nothing written.
  EXPECT_EQ(store->update_identity(ada, {.name = std::string("bad\x01"), .metadata_json = R"({"team":"y"})"}).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->update_identity(ada, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->update_identity(999, {.name = "z", .metadata_json = R"({"team":"y"})"}).code(),
            StatusCode::kNotFound);
  unchanged("invalid updates");

  // Both at once: one write, one change (a rename, which is what memory applies), both stored.
  ASSERT_TRUE(store->update_identity(ada, {.name = "ada lovelace", .metadata_json = R"({"team":"y"})"}).ok());
  EXPECT_EQ(store->last_write().first, before + 1);
  EXPECT_EQ(store->last_write().last, before + 1);
  EXPECT_FALSE(store->find_identity("ada")->has_value());
  auto renamed = store->find_identity("ada lovelace");
  ASSERT_TRUE(renamed.ok() && renamed->has_value());
  EXPECT_EQ((*renamed)->id, ada);
  EXPECT_NE((*renamed)->metadata.find("\"y\""), std::string::npos) << (*renamed)->metadata;
  EXPECT_EQ((*renamed)->n_faces, 1);
  auto log = store->changes_since(before, 100);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  ASSERT_EQ(log->changes.size(), 1u);
  EXPECT_EQ(log->changes[0].kind, ChangeKind::kRenameIdentity);
  EXPECT_EQ(log->changes[0].identity_id, ada);
  EXPECT_EQ(log->changes[0].name, "ada lovelace");
  EXPECT_EQ(*store->last_change(), before + 1);
}

TEST_F(PgStoreTest, MigratesAnEmptyDatabaseOnceAndDescribesWithoutPassword) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(store->describe(), "postgresql://127.0.0.1:" + std::to_string(pg_->port()) + "/gallery");
  EXPECT_EQ(*store->integrity_check(), "ok");
  // A second store (another replica) finds the schema in place and changes nothing.
  ASSERT_TRUE(pg_->sql(url_, "INSERT INTO facelens_identities(name, created_at, updated_at) VALUES ('x', 'a', 'b')"));
  auto again = open();
  ASSERT_TRUE(again);
  EXPECT_EQ((*again->identities()).size(), 1u);
  EXPECT_TRUE(pg_->sql(url_,
                       "DO $$ BEGIN IF (SELECT schema_version FROM facelens_meta) <> 1 THEN "
                       "RAISE EXCEPTION 'schema version'; END IF; END $$"))
      << pg_->last_error();
  // The password never shows.
  EXPECT_EQ(describe_pg_url("postgresql://ada:secret@db.example:6543/g"), "postgresql://db.example:6543/g");
  EXPECT_EQ(describe_pg_url("postgres://ada:secret@db.example/g").find("secret"), std::string::npos);
}

TEST_F(PgStoreTest, RefusesANewerSchemaSayingWhatToDo) {
  { ASSERT_TRUE(open()); }
  ASSERT_TRUE(pg_->sql(url_, "UPDATE facelens_meta SET schema_version = 99"));
  auto s = try_open();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("schema version 99"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("newer facelens"), std::string::npos) << s.status().message();
}

TEST_F(PgStoreTest, StartingReplicasAtOnceMigrateOnce) {
  std::vector<std::thread> threads;
  std::vector<Status> results(4);
  for (size_t i = 0; i < results.size(); ++i) threads.emplace_back([&, i] { results[i] = try_open().status(); });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.to_string();
}

TEST_F(PgStoreTest, TwoStoresEnrollingOneNameAtOnceMakeOneIdentity) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  constexpr int kRounds = 20;
  std::vector<Status> ra(kRounds), rb(kRounds);
  auto enrol = [](Store& s, int round, const std::string& who, Status* out) {
    NewIdentityFaces item{"same" + std::to_string(round),
                          std::nullopt,
                          {face(static_cast<float>(round), who + std::to_string(round))},
                          "",
                          ""};
    *out = s.add({&item, 1}).status();
  };
  std::thread ta([&] {
    for (int i = 0; i < kRounds; ++i) enrol(*a, i, "a", &ra[static_cast<size_t>(i)]);
  });
  std::thread tb([&] {
    for (int i = 0; i < kRounds; ++i) enrol(*b, i, "b", &rb[static_cast<size_t>(i)]);
  });
  ta.join();
  tb.join();
  for (int i = 0; i < kRounds; ++i) {
    EXPECT_TRUE(ra[static_cast<size_t>(i)].ok()) << ra[static_cast<size_t>(i)].to_string();
    EXPECT_TRUE(rb[static_cast<size_t>(i)].ok()) << rb[static_cast<size_t>(i)].to_string();
  }
  auto ids = a->identities();
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), static_cast<size_t>(kRounds));
  for (const auto& i : *ids) EXPECT_EQ(i.n_faces, 2) << i.name;
  // The log holds every face once, in consecutive sequence numbers.
  auto log = b->changes_since(0, 1000);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->changes.size(), static_cast<size_t>(2 * kRounds));
  for (size_t i = 0; i < log->changes.size(); ++i) EXPECT_EQ(log->changes[i].seq, static_cast<int64_t>(i + 1));
}

TEST_F(PgStoreTest, AnUnreachableDatabaseIsUnavailableThenReconnects) {
  auto store = open();
  ASSERT_TRUE(store);
  std::vector<NewIdentityFaces> items = {{"ada", std::nullopt, {face(1, "a1")}, "", ""}};
  ASSERT_TRUE(store->add(items).ok());
  ASSERT_TRUE(pg_->stop_immediate()) << pg_->last_error();
  for (int i = 0; i < 3; ++i) {
    auto ids = store->identities();
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.status().code(), StatusCode::kUnavailable);
    EXPECT_NE(ids.status().message().find("the gallery database at postgresql://127.0.0.1:"), std::string::npos)
        << ids.status().message();
    EXPECT_NE(ids.status().message().find("is unreachable"), std::string::npos) << ids.status().message();
  }
  std::vector<NewIdentityFaces> more = {{"bob", std::nullopt, {face(2, "b1")}, "", ""}};
  EXPECT_EQ(store->add(more).status().code(), StatusCode::kUnavailable);
  auto fresh = try_open();
  EXPECT_EQ(fresh.status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(pg_->restart()) << pg_->last_error();
  // The next calls reconnect (after at most reconnect_interval_ms); the acknowledged write is there.
  StatusOr<std::vector<StoredIdentity>> ids = unavailable("not yet");
  for (int i = 0; i < 100 && !ids.ok(); ++i) {
    ids = store->identities();
    if (!ids.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(ids.ok()) << ids.status().to_string();
  ASSERT_EQ(ids->size(), 1u);
  EXPECT_EQ((*ids)[0].name, "ada");
  EXPECT_TRUE(store->add(more).ok());
}

}  // namespace
}  // namespace facelens::gallery
