// The SQLite gallery store: schema, transactions, duplicates, cascade, round trips, reopening.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "gallery/store.h"

namespace facelens::gallery {
namespace {

namespace fs = std::filesystem;

// A fresh folder per test, removed afterwards.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("facelens_store_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    path_ = (dir_ / "sub" / "gallery.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<Store> open() {
    SqliteStoreOptions o;
    o.path = path_;
    auto s = open_sqlite_store(o);
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static StoredFace face(float seed, const std::string& sha = "") {
    StoredFace f;
    f.embedding = {seed, seed + 1, seed + 2, -seed};
    f.model_id = "model_a";
    f.quality = seed * 10;
    f.box = {seed, 2 * seed, 3 * seed, 4 * seed};
    f.image_sha256 = sha;
    return f;
  }
  fs::path dir_;
  std::string path_;
};

TEST_F(StoreTest, CreatesFolderSchemaAndWal) {
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

TEST_F(StoreTest, AddsFindsAndPersists) {
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

TEST_F(StoreTest, DuplicateImageRefusedAndNothingAdded) {
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

TEST_F(StoreTest, InvalidMetadataRefused) {
  auto store = open();
  std::vector<NewIdentityFaces> items = {{"ada", std::string("{not json"), {face(1)}, "", ""}};
  auto r = store->add(items);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos);
}

TEST_F(StoreTest, RemoveCascadesToFaces) {
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

TEST_F(StoreTest, CropsAndEmbeddingUpdates) {
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

TEST_F(StoreTest, KeepsGivenTimestamps) {
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

TEST_F(StoreTest, RefusesNewerSchemaAndNonDatabase) {
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

}  // namespace
}  // namespace facelens::gallery
