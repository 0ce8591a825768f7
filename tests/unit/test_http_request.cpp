// The service's HTTP/1.1 request parser and body readers (src/server/http_request.h): requests
// fed at once and byte by byte parse the same, limits give the statuses the server answers,
// chunked bodies, pipelining, multipart parts, query decoding and the JSON depth scan.
#include <gtest/gtest.h>

#include <string>

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

TEST(HttpRequest, JsonDepthIsCheckedWithoutParsing) {
  EXPECT_TRUE(json_depth_within(R"({"a": [1, {"b": 2}]})", 3));
  EXPECT_FALSE(json_depth_within(R"({"a": [1, {"b": 2}]})", 2));
  EXPECT_TRUE(json_depth_within(R"({"a": "[[[[[[\"[[["})", 1));  // brackets inside strings
  const int deep = 1000000;
  EXPECT_FALSE(json_depth_within(std::string(deep, '[') + std::string(deep, ']'), 32));
}

}  // namespace
}  // namespace facelens::server
