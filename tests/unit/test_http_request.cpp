// The service's HTTP/1.1 request parser and body readers (src/server/http_request.h): requests
// fed at once and byte by byte parse the same, limits give the statuses the server answers,
// chunked bodies, pipelining, multipart parts, query decoding and the JSON depth scan.
#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "server/http_request.h"

namespace facelens::server {
namespace {

struct Parsed {
  RequestParser::Result result;
  HttpRequest request;
  int error = 0;
};

Parsed parse(const std::string& wire, HttpLimits limits = {}, bool bytewise = false) {
  RequestParser p(limits);
  RequestParser::Result r = RequestParser::Result::kNeedMore;
  if (bytewise) {
    for (size_t i = 0; i < wire.size() && r == RequestParser::Result::kNeedMore; ++i) r = p.feed(wire.substr(i, 1));
  } else {
    r = p.feed(wire);
  }
  Parsed out{r, {}, p.error_status()};
  if (r == RequestParser::Result::kComplete) out.request = p.take();
  return out;
}

TEST(HttpRequest, AtOnceAndByteByByteParseTheSame) {
  const std::string wire =
      "\r\nPOST /v1/identities/a%20b/faces?top_k=3&x=%41+b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nTrailer: t\r\n\r\n";
  for (bool bytewise : {false, true}) {
    Parsed p = parse(wire, {}, bytewise);
    ASSERT_EQ(p.result, RequestParser::Result::kComplete) << bytewise;
    EXPECT_EQ(p.request.method, "POST");
    EXPECT_EQ(p.request.path, "/v1/identities/a b/faces");
    EXPECT_EQ(p.request.query, "top_k=3&x=%41+b");
    EXPECT_EQ(p.request.body, "{\"a\":1}");
    EXPECT_FALSE(p.request.keep_alive);
    EXPECT_EQ(p.request.header("content-type"), "application/json");
  }
  auto q = parse_query("top_k=3&x=%41+b&flag");
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[1].second, "A b");
  EXPECT_EQ(q[2].first, "flag");
}

TEST(HttpRequest, LimitsGiveTheStatusesTheServerAnswers) {
  HttpLimits small;
  small.max_body_bytes = 100;
  small.max_header_bytes = 200;
  small.max_headers = 3;
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", small).error, 413);
  EXPECT_EQ(
      parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + std::string(64, 'x') + "\r\n40\r\n", small)
          .error,
      413);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n", small).error, 413);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: " + std::string(300, 'a'), small).error, 431);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n", small).error, 431);
  EXPECT_EQ(parse("GET / HTTP/2.0\r\n\r\n").error, 505);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").error, 501);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nExpect: something\r\n\r\n").error, 417);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").error, 400);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n").error, 400);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n").error, 400);
  EXPECT_EQ(parse("GET http://x/ HTTP/1.1\r\n\r\n").error, 400);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nX: a\x01"
                  "b\r\n\r\n")
                .error,
            400);
  // Expect: 100-continue within the limit: headers complete, body still to come.
  RequestParser p(small);
  EXPECT_EQ(p.feed("POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"),
            RequestParser::Result::kNeedMore);
  EXPECT_TRUE(p.headers_complete());
  EXPECT_TRUE(p.request().expect_continue);
  EXPECT_EQ(p.feed("hello"), RequestParser::Result::kComplete);
}

TEST(HttpRequest, PipelinedRequestsComeOneAfterTheOther) {
  RequestParser p(HttpLimits{});
  auto r = p.feed("POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /b HTTP/1.0\r\n\r\nGET /c HTTP/1.1\r\n");
  ASSERT_EQ(r, RequestParser::Result::kComplete);
  EXPECT_EQ(p.take().body, "hi");
  ASSERT_EQ(p.next(), RequestParser::Result::kComplete);
  HttpRequest b = p.take();
  EXPECT_EQ(b.path, "/b");
  EXPECT_FALSE(b.keep_alive);  // HTTP/1.0 without keep-alive
  EXPECT_EQ(p.next(), RequestParser::Result::kNeedMore);
  EXPECT_TRUE(p.started());
  EXPECT_EQ(p.feed("\r\n"), RequestParser::Result::kComplete);
  EXPECT_EQ(p.take().path, "/c");
}

TEST(HttpRequest, MultipartPartsPointIntoTheBody) {
  const std::string body =
      "preamble\r\n--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n"
      "Content-Type: image/jpeg\r\n\r\n\x01\x02\r\n--x\r\n--xyz\r\nContent-Disposition: form-data; "
      "name=\"name\"\r\n\r\n"
      "obama\r\n--xyz--\r\n";
  auto parts = parse_multipart("multipart/form-data; boundary=\"xyz\"", body);
  ASSERT_TRUE(parts.ok()) << parts.status().to_string();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "image");
  EXPECT_EQ((*parts)[0].filename, "a.jpg");
  EXPECT_EQ((*parts)[0].content_type, "image/jpeg");
  EXPECT_EQ((*parts)[0].data, std::string_view("\x01\x02\r\n--x"));
  EXPECT_EQ((*parts)[1].data, "obama");
  EXPECT_FALSE(parse_multipart("multipart/form-data", body).ok());
  EXPECT_FALSE(parse_multipart("multipart/form-data; boundary=xyz", "--xyz\r\n\r\nno end").ok());
  std::string many;
  for (int i = 0; i < 5; ++i) many += "--b\r\n\r\nx\r\n";
  EXPECT_FALSE(parse_multipart("multipart/form-data; boundary=b", many + "--b--", 4).ok());
}

// Edge cases of multipart/form-data bodies as clients send them (and as they should not).
TEST(HttpRequest, MultipartEdgeCases) {
  const std::string ct = "multipart/form-data; boundary=xyz";
  // Epilogue after the closing delimiter, transport padding after a delimiter, an empty part,
  // data holding near-delimiters and bare CRs.
  auto parts =
      parse_multipart(ct,
                      "--xyz  \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\r\n--xy\r\n-\r\n--xyz\r\n"
                      "Content-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--xyz--\r\nepilogue\r\n--xyz\r\n");
  ASSERT_TRUE(parts.ok()) << parts.status().to_string();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].data, "\r\r\n--xy\r\n-");
  EXPECT_EQ((*parts)[1].name, "empty");
  EXPECT_TRUE((*parts)[1].data.empty());
  // Header parameters: quoted with escapes, unquoted, case-insensitive names.
  parts = parse_multipart("multipart/form-data; BOUNDARY=\"a'()+_,-./:=?b\"",
                          "--a'()+_,-./:=?b\r\ncontent-disposition: form-data; NAME=\"x\\\"y\"; filename=f.jpg\r\n"
                          "CONTENT-TYPE: image/png\r\n\r\nPNG\r\n--a'()+_,-./:=?b--");
  ASSERT_TRUE(parts.ok()) << parts.status().to_string();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].name, "x\"y");
  EXPECT_EQ((*parts)[0].filename, "f.jpg");
  EXPECT_EQ((*parts)[0].content_type, "image/png");
  EXPECT_EQ((*parts)[0].data, "PNG");
  // Refusals, each with a message.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {ct, ""},                                                                   // no boundary at all
      {ct, "--xyz\r\n\r\nno closing delimiter"},                                  // ends inside a part
      {ct, "--xyz\nContent-Disposition: form-data\n\nx\n--xyz--"},                // bare LF line ends
      {ct, "--xyz\r\nno colon here\r\n\r\nx\r\n--xyz--"},                         // malformed part header
      {ct, "--xyz\r\nX: " + std::string(9000, 'a') + "\r\n\r\nx\r\n--xyz--"},     // part headers over 8 KiB
      {"multipart/form-data; boundary=\"a\rb\"", "--a\rb\r\n\r\nx\r\n--a\rb--"},  // CR in the boundary
      {"multipart/form-data; boundary=\"ab \"", "--ab \r\n\r\nx\r\n--ab --"},     // boundary ends with a space
      {"multipart/form-data; boundary=" + std::string(201, 'b'), "x"},            // boundary over 200 characters
  };
  for (const auto& [type, body] : bad) {
    auto r = parse_multipart(type, body);
    EXPECT_FALSE(r.ok()) << type << " | " << body.substr(0, 60);
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty());
    }
  }
}

// The multipart parser is linear in the body, whatever it holds: the bytes it looks at stay
// within 3x the body for many small parts, a huge part, a huge part full of near-delimiters
// (the case a naive search is quadratic on) and one full of CRs, at two sizes. Counted, not timed.
TEST(HttpRequest, MultipartParserIsLinearInTheBody) {
  const std::string boundary = "----facelensBoundary0123456789";
  const std::string ct = "multipart/form-data; boundary=" + boundary;
  auto one_part = [&](const std::string& data) {
    return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n" + data + "\r\n";
  };
  auto bodies = [&](size_t scale) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string many;
    for (size_t i = 0; i < 2000 * scale; ++i) many += one_part("p" + std::to_string(i));
    out.emplace_back("many parts", many + "--" + boundary + "--\r\n");
    std::string huge(1000000 * scale, 'x');
    for (size_t i = 0; i < huge.size(); i += 7) huge[i] = static_cast<char>(i * 131 % 251);
    out.emplace_back("a huge part", one_part(huge) + "--" + boundary + "--\r\n");
    std::string near;
    const std::string almost = "\r\n--" + boundary.substr(0, boundary.size() - 1);
    while (near.size() < 1000000 * scale) near += almost;
    out.emplace_back("a huge part of near-delimiters", one_part(near) + "--" + boundary + "--\r\n");
    out.emplace_back("a huge part of CRs", one_part(std::string(1000000 * scale, '\r')) + "--" + boundary + "--\r\n");
    return out;
  };
  for (size_t scale : {1, 4}) {
    for (const auto& [what, body] : bodies(scale)) {
      MultipartStats stats;
      auto parts = parse_multipart(ct, body, /*max_parts=*/1 << 20, &stats);
      ASSERT_TRUE(parts.ok()) << what << ": " << parts.status().to_string();
      EXPECT_EQ(parts->size(), what == "many parts" ? 2000 * scale : 1u) << what;
      EXPECT_GE(stats.bytes_examined, body.size() / 2) << what << ": the count misses work";
      EXPECT_LE(stats.bytes_examined, 3 * body.size())
          << what << " x" << scale << ": " << stats.bytes_examined << " bytes looked at for a body of " << body.size();
    }
  }
}

// A Content-Length body received into body_room() (as the server does, straight from the
// socket) is the same as one fed through feed(), in any mix and any piece sizes; the buffer keeps
// kBodyPadding bytes of capacity past the body; pipelined bytes after it stay for next().
TEST(HttpRequest, BodyReceivedInPlaceEqualsBodyFed) {
  std::string body(3 * RequestParser::kBodyRoomStep + 123, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 2654435761u >> 11);
  const std::string head =
      "POST /v1/detect HTTP/1.1\r\nContent-Type: image/jpeg\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n";
  for (size_t piece : {1000, 65536, 1 << 20}) {
    SCOPED_TRACE(piece);
    RequestParser p(HttpLimits{});
    ASSERT_EQ(p.feed(head + body.substr(0, 10)), RequestParser::Result::kNeedMore);
    size_t at = 10;
    RequestParser::Result r = RequestParser::Result::kNeedMore;
    bool fed = false;
    while (r == RequestParser::Result::kNeedMore) {
      if (fed) {  // alternate: a piece through feed(), a piece in place
        const size_t n = std::min(piece, body.size() - at);
        r = p.feed(std::string_view(body).substr(at, n));
        at += n;
      } else {
        std::span<char> room = p.body_room();
        ASSERT_FALSE(room.empty());
        ASSERT_LE(room.size(), RequestParser::kBodyRoomStep);
        const size_t n = std::min({piece, room.size(), body.size() - at});
        std::copy_n(body.data() + at, n, room.data());
        r = p.commit_body(n);
        at += n;
      }
      fed = !fed;
    }
    ASSERT_EQ(r, RequestParser::Result::kComplete);
    EXPECT_TRUE(p.body_room().empty());
    HttpRequest req = p.take();
    EXPECT_EQ(req.body.size(), body.size());
    EXPECT_TRUE(req.body == body);
    EXPECT_GE(req.body.capacity(), req.body.size() + kBodyPadding);
  }
  RequestParser p(HttpLimits{});
  ASSERT_EQ(p.feed("POST /a HTTP/1.1\r\nContent-Length: 4\r\n\r\n"), RequestParser::Result::kNeedMore);
  std::span<char> room = p.body_room();
  ASSERT_EQ(room.size(), 4u);
  std::copy_n("abcd", 4, room.data());
  ASSERT_EQ(p.commit_body(4), RequestParser::Result::kComplete);
  EXPECT_EQ(p.take().body, "abcd");
  EXPECT_EQ(p.next(), RequestParser::Result::kNeedMore);
  EXPECT_EQ(p.feed("GET /b HTTP/1.1\r\n\r\n"), RequestParser::Result::kComplete);
  EXPECT_EQ(p.take().path, "/b");
}

TEST(HttpRequest, JsonDepthIsCheckedWithoutParsing) {
  EXPECT_TRUE(json_depth_within(R"({"a": [1, {"b": 2}]})", 3));
  EXPECT_FALSE(json_depth_within(R"({"a": [1, {"b": 2}]})", 2));
  EXPECT_TRUE(json_depth_within(R"({"a": "[[[[[[\"[[["})", 1));  // brackets inside strings
  const int deep = 1000000;
  EXPECT_FALSE(json_depth_within(std::string(deep, '[') + std::string(deep, ']'), 32));
}

}  // namespace
}  // namespace facelens::server
