// facelens — Status and StatusOr: the one error idiom of the library.
//
//   facelens::StatusOr<facelens::Image> img = facelens::decode_image_file("a.jpg", {});
//   if (!img.ok()) { std::cerr << img.status().to_string() << "\n"; return 1; }
//   use(*img);
//
// A Status carries a code and a message that says what was expected and how to fix it.
// Library functions never throw for expected failures (bad input, missing model, no GPU); they
// return a Status. Status and StatusOr are plain values: copyable, not thread-safe to mutate,
// safe to read from several threads.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace facelens {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad input from the caller: corrupt image, bad option value
  kOutOfRange,          // input over a configured limit (pixels, bytes, faces)
  kNotFound,            // a file, model or identity that does not exist
  kDataLoss,            // a file whose hash does not match its manifest entry
  kFailedPrecondition,  // the system is not in a state to do this (e.g. model not loaded)
  kUnavailable,         // a resource that cannot be had now (GPU, provider library)
  kResourceExhausted,   // out of memory, queue full
  kUnimplemented,       // a model family or feature facelens does not support
  kInternal,            // a bug or an unexpected runtime failure
};

const char* status_code_name(StatusCode code);

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "INVALID_ARGUMENT: <message>", or "OK".
  std::string to_string() const;
  // Returns a copy whose message is "<context>: <message>".
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status invalid_argument(std::string message);
Status out_of_range(std::string message);
Status not_found(std::string message);
Status data_loss(std::string message);
Status failed_precondition(std::string message);
Status unavailable(std::string message);
Status resource_exhausted(std::string message);
Status unimplemented(std::string message);
Status internal_error(std::string message);

// Holds either a value or a non-OK Status.
template <typename T>
class StatusOr {
 public:
  StatusOr(const Status& status) : v_(status) {}        // NOLINT: implicit by design
  StatusOr(Status&& status) : v_(std::move(status)) {}  // NOLINT
  StatusOr(const T& value) : v_(value) {}               // NOLINT
  StatusOr(T&& value) : v_(std::move(value)) {}         // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace facelens

#define FACELENS_CONCAT_INNER_(a, b) a##b
#define FACELENS_CONCAT_(a, b) FACELENS_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function when `expr` is not OK.
#define FACELENS_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::facelens::Status facelens_status_ = (expr);        \
    if (!facelens_status_.ok()) return facelens_status_; \
  } while (0)

#define FACELENS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

// `FACELENS_ASSIGN_OR_RETURN(auto x, f());` declares x from f()'s value or returns its Status.
#define FACELENS_ASSIGN_OR_RETURN(lhs, expr) \
  FACELENS_ASSIGN_OR_RETURN_IMPL_(FACELENS_CONCAT_(facelens_statusor_, __LINE__), lhs, expr)
