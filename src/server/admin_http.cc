#include "server/admin_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/steady_clock.h"
#include "common/thread_name.h"
#include "server/cidr.h"

namespace cairn::server {
namespace {

constexpr int kListenBacklogMax = 128;
constexpr size_t kReadChunkBytes = 4096;
constexpr size_t kAcceptsPerWakeupMax = 64;     // keeps the loop fair under a connection flood
constexpr int64_t kAcceptPauseMs = 100;          // after EMFILE and friends, instead of spinning
constexpr size_t kDrainBytesMax = 64 * 1024;     // discarded after the response, then close
constexpr int64_t kDrainTimeoutMsMax = 1000;
constexpr size_t kMethodSizeBytesMax = 16;
constexpr size_t kContentTypeSizeBytesMax = 256;
constexpr size_t kCacheControlSizeBytesMax = 128;
constexpr size_t kListenSizeBytesMax = 64;
constexpr size_t kContentLengthDigitsMax = 10;
static_assert(sizeof(size_t) >= 8, "a 10-digit Content-Length must fit");
constexpr size_t kNoBody = static_cast<size_t>(-1);

int64_t NowMs() { return SteadyNowMs(); }

// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct ListenAddress {
  sockaddr_storage addr{};
  socklen_t size_bytes = 0;
};

Result<ListenAddress> ParseListen(const std::string& listen) {
  const Status bad = Status::InvalidArgument(
      "admin listen address '" + listen.substr(0, kListenSizeBytesMax) +
      "' is not ipv4:port or [ipv6]:port (numeric, port 0..65535)");
  if (listen.empty() || listen.size() > kListenSizeBytesMax) return bad;
  std::string host;
  std::string port_text;
  bool v6 = false;
  if (listen[0] == '[') {
    const size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return bad;
    }
    host = listen.substr(1, close - 1);
    port_text = listen.substr(close + 2);
    v6 = true;
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return bad;
    host = listen.substr(0, colon);
    port_text = listen.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad;  // IPv6 needs brackets
  }
  if (port_text.empty() || port_text.size() > 5) return bad;
  uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return bad;
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port > 65535) return bad;

  ListenAddress out;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&out.addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &a->sin6_addr) != 1) return bad;
    out.size_bytes = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&out.addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a->sin_addr) != 1) return bad;
    out.size_bytes = sizeof(sockaddr_in);
  }
  return out;
}

std::string PeerIp(const sockaddr_storage& peer) {
  char text[INET6_ADDRSTRLEN] = {};
  if (peer.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, text, sizeof text);
  } else if (peer.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, text,
              sizeof text);
  }
  return text;
}

// ---- Requests ----

struct Request {
  std::string_view method;
  std::string_view path;  // without query string or fragment
  size_t content_length = kNoBody;  // kNoBody: no Content-Length header
  bool transfer_encoding = false;
};

// A Content-Length value: 1..kContentLengthDigitsMax digits, nothing else; kNoBody if malformed.
size_t ParseContentLength(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty() || value.size() > kContentLengthDigitsMax) return kNoBody;
  size_t n = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return kNoBody;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  return n;
}

bool IsTchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool IsFieldValueByte(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// Parses the request head (request line and header lines, without the final empty line).
// Returns 0 on success or the HTTP status to answer with (400, 505).
int ParseRequestHead(std::string_view head, Request* out) {
  const size_t line_end = head.find("\r\n");
  const std::string_view line = head.substr(0, line_end);
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return 400;
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return 400;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || method.size() > kMethodSizeBytesMax) return 400;
  for (char c : method) {
    if (c < 'A' || c > 'Z') return 400;
  }
  if (target.empty() || target[0] != '/') return 400;  // origin-form only
  for (char c : target) {
    if (c < 0x21 || c > 0x7e) return 400;
  }
  if (version.substr(0, 5) != "HTTP/") return 400;
  const bool http11 = version == "HTTP/1.1";
  if (!http11 && version != "HTTP/1.0") return 505;

  size_t host_count = 0;
  size_t length_count = 0;
  size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view field = head.substr(pos, end - pos);
    pos = end + 2;
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) return 400;  // also obs-fold (leading SP)
    const std::string_view name = field.substr(0, colon);
    for (char c : name) {
      if (!IsTchar(c)) return 400;  // no whitespace before the colon (RFC 9112, 5.1)
    }
    for (char c : field.substr(colon + 1)) {
      if (!IsFieldValueByte(static_cast<unsigned char>(c))) return 400;  // bare CR/LF, NUL, ...
    }
    if (EqualsIgnoreCase(name, "host")) ++host_count;
    if (EqualsIgnoreCase(name, "transfer-encoding")) out->transfer_encoding = true;
    if (EqualsIgnoreCase(name, "content-length")) {
      ++length_count;
      out->content_length = ParseContentLength(field.substr(colon + 1));
      if (out->content_length == kNoBody) return 400;
    }
  }
  if (host_count > 1 || (http11 && host_count == 0) || length_count > 1) return 400;

  out->method = method;
  out->path = target.substr(0, target.find_first_of("?#"));
  return 0;
}

// ---- Responses ----

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
  }
}

HttpResponse ErrorResponse(int status) {
  HttpResponse r;
  r.status = status;
  r.body = std::string(ReasonPhrase(status)) + "\n";
  return r;
}

// What `Allow` names on a 405: the methods of the path's table.
constexpr char kAllowGet[] = "GET, HEAD";
constexpr char kAllowPost[] = "POST";

bool ValidResponse(const HttpResponse& r, size_t response_bytes_max) {
  if (r.status < 200 || r.status > 599) return false;
  const auto printable = [](const std::string& value, size_t size_bytes_max) {
    if (value.empty() || value.size() > size_bytes_max) return false;
    for (char c : value) {
      if (c < 0x20 || c > 0x7e) return false;  // no header injection
    }
    return true;
  };
  if (!printable(r.content_type, kContentTypeSizeBytesMax) ||
      !printable(r.cache_control, kCacheControlSizeBytesMax)) {
    return false;
  }
  return r.body.size() <= response_bytes_max;
}

std::string FormatResponse(const HttpResponse& r, bool include_body, const char* allow) {
  std::string out;
  out.reserve(256 + (include_body ? r.body.size() : 0));
  out += "HTTP/1.1 " + std::to_string(r.status) + " " + ReasonPhrase(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "Cache-Control: " + r.cache_control + "\r\n";
  out += "X-Content-Type-Options: nosniff\r\n";
  if (r.status == 405) out += std::string("Allow: ") + allow + "\r\n";
  out += "Connection: close\r\n\r\n";
  if (include_body) out += r.body;
  return out;
}

// ---- Connections ----

enum class Phase { kHandshaking, kReading, kWriting, kDraining, kClosed };

struct Connection {
  UniqueFd fd;
  std::unique_ptr<AdminTlsSession> tls;  // null: plain HTTP; freed before `fd` closes
  short want = 0;  // what a TLS step waits for (POLLIN / POLLOUT); 0: what the phase implies
  bool close_notify_sent = false;  // TLS: the response is followed by close_notify
  std::string peer_ip;
  bool local = false;  // AdminHttpOptions::local_peer
  Phase phase = Phase::kReading;
  int64_t deadline_ms = 0;
  std::string in;   // request bytes so far (at most request_bytes_max + 1, or head and body)
  size_t body_from = kNoBody;  // a POST whose body is awaited: where it starts in `in`
  size_t body_size = 0;
  std::string out;  // the response
  size_t out_offset = 0;
  size_t drained_bytes = 0;
};

}  // namespace

struct AdminHttpServer::Impl {
  AdminHttpOptions options;
  std::map<std::string, HttpHandler> routes;
  std::map<std::string, HttpPostHandler> post_routes;
  std::map<std::string, HttpPathHandler> prefix_routes;
  UniqueFd listener;
  UniqueFd wake_read;
  UniqueFd wake_write;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::thread thread;
  std::mutex stop_mu;
  bool stopped = false;  // guarded by stop_mu
  // options.tls until ReplaceTls(): what new connections handshake with.
  mutable std::mutex tls_mu;
  std::shared_ptr<const AdminTlsContext> tls;  // guarded by tls_mu

  std::shared_ptr<const AdminTlsContext> CurrentTls() const {
    std::lock_guard lock(tls_mu);
    return tls;
  }

  // Loop-thread state.
  std::vector<Connection> connections;
  int64_t accept_paused_until_ms = 0;
  // TLS: per remote peer, the second (steady ms / 1000) of its last connections and how many.
  std::map<std::string, std::pair<int64_t, size_t>> handshakes;

  // False when a remote peer opened its share of TLS connections this second already.
  bool TakeHandshake(const std::string& peer_ip, int64_t now_ms);

  void Run();
  void AcceptSome(int64_t now_ms);
  void Step(Connection* c, int64_t now_ms);
  void Handshake(Connection* c);
  // Up to `size` bytes of the request: > 0 read, 0 the connection ended, -1 none yet.
  ssize_t Receive(Connection* c, char* buf, size_t size);
  // Part of the response: > 0 sent, 0 the connection failed, -1 not now.
  ssize_t Transmit(Connection* c, const char* buf, size_t size);
  void ReadRequest(Connection* c, int64_t now_ms);
  void ReadBody(Connection* c, std::string_view chunk, int64_t now_ms);
  void Respond(Connection* c, const HttpResponse& response, bool include_body, int64_t now_ms,
               const char* allow = kAllowGet);
  void Write(Connection* c, int64_t now_ms);
  void Drain(Connection* c);
  void Dispatch(Connection* c, const Request& request, int64_t now_ms);
  // Runs a handler; a throw or an invalid response becomes 500.
  template <typename Handler, typename... Args>
  HttpResponse Call(const Handler& handler, Args... args);
  // The prefix route whose prefix `path` starts with (the longest), or null.
  const HttpPathHandler* PrefixRoute(std::string_view path) const;
};

void AdminHttpServer::Impl::Run() {
  std::vector<pollfd> fds;
  while (!stopping.load(std::memory_order_acquire)) {
    int64_t now_ms = NowMs();
    fds.clear();
    fds.push_back({wake_read.get(), POLLIN, 0});
    const bool accepting = now_ms >= accept_paused_until_ms;
    fds.push_back({accepting ? listener.get() : -1, POLLIN, 0});  // fd -1: ignored by poll
    int64_t timeout_ms = accepting ? -1 : accept_paused_until_ms - now_ms;
    for (const Connection& c : connections) {
      assert(c.phase != Phase::kClosed);
      const short events = c.want != 0 ? c.want : c.phase == Phase::kWriting ? POLLOUT : POLLIN;
      fds.push_back({c.fd.get(), events, 0});
      const int64_t left_ms = std::max<int64_t>(0, c.deadline_ms - now_ms);
      timeout_ms = timeout_ms < 0 ? left_ms : std::min(timeout_ms, left_ms);
    }
    const int n =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::min(timeout_ms, kAdminTimeoutMsMax)));
    if (n < 0) {
      assert(errno == EINTR || errno == ENOMEM);
      continue;
    }
    if (fds[0].revents != 0) {
      char buf[64];
      while (::read(wake_read.get(), buf, sizeof buf) > 0) {
      }
      continue;  // re-check `stopping`
    }
    now_ms = NowMs();
    for (size_t i = 0; i < connections.size(); ++i) {
      Connection& c = connections[i];
      if (fds[i + 2].revents != 0) Step(&c, now_ms);
      if (c.phase != Phase::kClosed && now_ms >= c.deadline_ms) {
        c.fd.Reset();  // slow client: no response
        c.phase = Phase::kClosed;
      }
    }
    std::erase_if(connections, [](const Connection& c) { return c.phase == Phase::kClosed; });
    if (accepting && (fds[1].revents & POLLIN) != 0) AcceptSome(now_ms);
  }
  connections.clear();  // closes them
}

void AdminHttpServer::Impl::AcceptSome(int64_t now_ms) {
  for (size_t i = 0; i < kAcceptsPerWakeupMax; ++i) {
    sockaddr_storage peer{};
    socklen_t peer_size = sizeof peer;
    UniqueFd fd(::accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer), &peer_size,
                          SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) accept_paused_until_ms = now_ms + kAcceptPauseMs;
      return;
    }
    if (connections.size() >= options.connections_max) continue;  // closed by ~UniqueFd
    std::string peer_ip = PeerIp(peer);
    if (options.allow_peer) {
      bool allowed = false;
      try {
        allowed = options.allow_peer(peer_ip);
      } catch (...) {
        allowed = false;
      }
      if (!allowed) continue;  // closed without a response
    }
    const bool local = options.local_peer ? options.local_peer(peer_ip) : IsLoopbackHost(peer_ip);
    if (!local) {
      const auto remote = std::count_if(connections.begin(), connections.end(),
                                        [](const Connection& o) { return !o.local; });
      const size_t reserved =
          std::min(options.local_reserved_connections, options.connections_max / 2);
      if (static_cast<size_t>(remote) >= options.connections_max - reserved) {
        continue;  // the rest is kept for local probes
      }
    }
    if (options.tls && !local && !TakeHandshake(peer_ip, now_ms)) continue;
    const auto same_peer = std::count_if(connections.begin(), connections.end(),
                                         [&](const Connection& o) { return o.peer_ip == peer_ip; });
    const bool limited = options.per_peer_limit_on_loopback || !local;
    if (limited && static_cast<size_t>(same_peer) >= options.connections_per_peer_max) continue;
    Connection c;
    if (options.tls) {
      Result<std::unique_ptr<AdminTlsSession>> session = CurrentTls()->NewSession(fd.get());
      if (!session.ok()) continue;  // out of memory: closed, as when the table is full
      c.tls = std::move(session).value();
      c.phase = Phase::kHandshaking;
    }
    c.fd = std::move(fd);
    c.peer_ip = std::move(peer_ip);
    c.local = local;
    c.deadline_ms = now_ms + options.read_timeout_ms;
    connections.push_back(std::move(c));
  }
}

bool AdminHttpServer::Impl::TakeHandshake(const std::string& peer_ip, int64_t now_ms) {
  const int64_t second = now_ms / 1000;
  // Bounded: past seconds are forgotten once the table holds as many peers as connections may.
  if (handshakes.size() >= options.connections_max && handshakes.count(peer_ip) == 0) {
    std::erase_if(handshakes, [&](const auto& entry) { return entry.second.first != second; });
    if (handshakes.size() >= options.connections_max) return false;  // that many peers this second
  }
  auto& [at, count] = handshakes[peer_ip];
  if (at != second) {
    at = second;
    count = 0;
  }
  if (count >= options.handshakes_per_peer_per_second_max) return false;
  ++count;
  return true;
}

void AdminHttpServer::Impl::Step(Connection* c, int64_t now_ms) {
  switch (c->phase) {
    case Phase::kHandshaking: Handshake(c); break;
    case Phase::kReading: ReadRequest(c, now_ms); break;
    case Phase::kWriting: Write(c, now_ms); break;
    case Phase::kDraining: Drain(c); break;
    case Phase::kClosed: break;
  }
  // TLS may hold decrypted bytes that poll(2) will not announce: read them now. Each round reads
  // at least one byte or leaves the reading phase, and the request is bounded, so this ends.
  while (c->phase == Phase::kReading && c->tls != nullptr && c->tls->HasBufferedInput()) {
    ReadRequest(c, now_ms);
  }
  if (c->phase == Phase::kClosed) c->fd.Reset();
}

namespace {

// Records what a TLS step waits for in `c->want`; then, as Receive and Transmit answer: the bytes
// moved (> 0), 0 for a connection that ended, -1 for "not now".
ssize_t TlsResult(Connection* c, const TlsStep& step) {
  c->want = step.outcome == TlsStep::kWantRead    ? POLLIN
            : step.outcome == TlsStep::kWantWrite ? POLLOUT
                                                  : 0;
  if (step.outcome == TlsStep::kOk) return static_cast<ssize_t>(step.bytes);
  return step.outcome == TlsStep::kClosed ? 0 : -1;
}

// The same for a plain socket call's result.
ssize_t SocketResult(ssize_t n) {
  if (n >= 0) return n;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -1 : 0;
}

}  // namespace

void AdminHttpServer::Impl::Handshake(Connection* c) {
  assert(c->phase == Phase::kHandshaking && c->tls != nullptr);
  const TlsStep step = c->tls->Handshake();
  TlsResult(c, step);
  if (step.outcome == TlsStep::kOk) c->phase = Phase::kReading;  // the request may be buffered
  if (step.outcome == TlsStep::kClosed) c->phase = Phase::kClosed;  // no response to a failed one
}

ssize_t AdminHttpServer::Impl::Receive(Connection* c, char* buf, size_t size) {
  assert(size > 0);
  if (c->tls == nullptr) return SocketResult(::recv(c->fd.get(), buf, size, 0));
  return TlsResult(c, c->tls->Read(buf, size));
}

ssize_t AdminHttpServer::Impl::Transmit(Connection* c, const char* buf, size_t size) {
  assert(size > 0);
  if (c->tls == nullptr) return SocketResult(::send(c->fd.get(), buf, size, MSG_NOSIGNAL | MSG_DONTWAIT));
  return TlsResult(c, c->tls->Write(buf, size));
}

void AdminHttpServer::Impl::ReadRequest(Connection* c, int64_t now_ms) {
  const bool body = c->body_from != kNoBody;
  const size_t limit = body ? c->body_from + c->body_size : options.request_bytes_max + 1;
  assert(c->in.size() < limit || (!body && c->in.size() <= options.request_bytes_max));
  char buf[kReadChunkBytes];
  const size_t want = std::min(sizeof buf, limit - c->in.size());
  const ssize_t n = Receive(c, buf, want);
  if (n < 0) return;  // nothing yet
  if (n == 0) {  // the client gave up before finishing its request
    c->phase = Phase::kClosed;
    return;
  }
  const std::string_view chunk(buf, static_cast<size_t>(n));
  if (body) {
    ReadBody(c, chunk, now_ms);
    return;
  }
  // Not HTTP (a TLS ClientHello to a plain listener, binary noise): answer now rather than wait
  // for the timeout.
  if (c->in.empty() && (buf[0] < 'A' || buf[0] > 'Z')) {
    Respond(c, ErrorResponse(400), true, now_ms);
    return;
  }
  // Search only where the new bytes can complete "\r\n\r\n".
  const size_t search_from = c->in.size() < 3 ? 0 : c->in.size() - 3;
  c->in.append(chunk);
  const size_t end = c->in.find("\r\n\r\n", search_from);
  if (std::string_view(c->in).substr(0, end).find('\0') != std::string_view::npos) {
    Respond(c, ErrorResponse(400), true, now_ms);  // a NUL in the head (a body may hold any byte)
    return;
  }
  if (end == std::string::npos || end + 4 > options.request_bytes_max) {
    if (c->in.size() > options.request_bytes_max || end != std::string::npos) {
      Respond(c, ErrorResponse(431), true, now_ms);
    }
    return;
  }
  Request request;
  const int error_status = ParseRequestHead(std::string_view(c->in).substr(0, end), &request);
  if (error_status != 0) {
    Respond(c, ErrorResponse(error_status), true, now_ms);
    return;
  }
  Dispatch(c, request, now_ms);
}

void AdminHttpServer::Impl::Dispatch(Connection* c, const Request& request, int64_t now_ms) {
  const std::string path(request.path);
  const bool get = request.method == "GET" || request.method == "HEAD";
  const auto get_route = routes.find(path);
  const auto post_route = post_routes.find(path);
  if (get_route != routes.end()) {
    Respond(c, get ? Call(get_route->second) : ErrorResponse(405), request.method != "HEAD",
            now_ms, kAllowGet);
    return;
  }
  if (post_route == post_routes.end()) {
    const HttpPathHandler* prefix_route = PrefixRoute(path);
    if (prefix_route == nullptr) {
      Respond(c, ErrorResponse(404), request.method != "HEAD", now_ms);
    } else {
      Respond(c, get ? Call(*prefix_route, std::string_view(path)) : ErrorResponse(405),
              request.method != "HEAD", now_ms, kAllowGet);
    }
    return;
  }
  if (request.method != "POST") {
    Respond(c, ErrorResponse(405), request.method != "HEAD", now_ms, kAllowPost);
    return;
  }
  if (request.transfer_encoding || request.content_length == kNoBody) {
    Respond(c, ErrorResponse(411), true, now_ms);
    return;
  }
  if (request.content_length > options.request_body_bytes_max) {
    Respond(c, ErrorResponse(413), true, now_ms);
    return;
  }
  // Wait for the body; what already came after the head is its start.
  const size_t head_end = c->in.find("\r\n\r\n") + 4;
  std::string rest = c->in.substr(head_end);
  c->in.resize(head_end);
  c->body_from = head_end;
  c->body_size = request.content_length;
  ReadBody(c, rest, now_ms);
}

const HttpPathHandler* AdminHttpServer::Impl::PrefixRoute(std::string_view path) const {
  // The map is ordered, so a longer prefix sorts after each of its own prefixes.
  const HttpPathHandler* found = nullptr;
  for (const auto& [prefix, handler] : prefix_routes) {
    if (path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix) found = &handler;
  }
  return found;
}

void AdminHttpServer::Impl::ReadBody(Connection* c, std::string_view chunk, int64_t now_ms) {
  assert(c->body_from != kNoBody && c->in.size() <= c->body_from + c->body_size);
  const size_t missing = c->body_from + c->body_size - c->in.size();
  c->in.append(chunk.substr(0, missing));  // bytes beyond the body (pipelining) are ignored
  if (c->in.size() < c->body_from + c->body_size) return;
  Request request;
  const int error_status = ParseRequestHead(std::string_view(c->in).substr(0, c->body_from - 4),
                                            &request);
  assert(error_status == 0 && request.method == "POST");
  const auto route = post_routes.find(std::string(request.path));
  assert(route != post_routes.end());
  const HttpResponse response =
      Call(route->second, std::string_view(c->in).substr(c->body_from));
  Respond(c, response, true, now_ms);
}

template <typename Handler, typename... Args>
HttpResponse AdminHttpServer::Impl::Call(const Handler& handler, Args... args) {
  HttpResponse response;
  try {
    response = handler(args...);
  } catch (...) {
    return ErrorResponse(500);
  }
  if (!ValidResponse(response, options.response_bytes_max)) return ErrorResponse(500);
  return response;
}

void AdminHttpServer::Impl::Respond(Connection* c, const HttpResponse& response,
                                    bool include_body, int64_t now_ms, const char* allow) {
  assert(c->phase == Phase::kReading);
  std::string().swap(c->in);  // the request is done with
  c->body_from = kNoBody;
  c->out = FormatResponse(response, include_body, allow);
  c->out_offset = 0;
  c->phase = Phase::kWriting;
  c->deadline_ms = now_ms + options.read_timeout_ms;
  Write(c, now_ms);  // most responses fit the socket buffer at once
}

void AdminHttpServer::Impl::Write(Connection* c, int64_t now_ms) {
  while (c->out_offset < c->out.size()) {
    const ssize_t n = Transmit(c, c->out.data() + c->out_offset, c->out.size() - c->out_offset);
    if (n < 0) return;  // not now
    if (n == 0) {
      c->phase = Phase::kClosed;
      return;
    }
    c->out_offset += static_cast<size_t>(n);
  }
  // Sent: half-close (TLS: close_notify first, not waiting for the client's) and discard what
  // the client still sends, so that closing with unread bytes does not reset the connection
  // before the client has read the response. The discarding reads the socket itself.
  std::string().swap(c->out);
  if (c->tls != nullptr && !c->close_notify_sent) {
    const TlsStep step = c->tls->Shutdown();
    if (step.outcome == TlsStep::kWantWrite) {
      c->want = POLLOUT;
      return;  // the alert did not fit the socket buffer: again when it does
    }
    c->close_notify_sent = true;  // (or the connection failed: the drain ends it)
  }
  c->want = 0;
  ::shutdown(c->fd.get(), SHUT_WR);
  c->phase = Phase::kDraining;
  c->deadline_ms = now_ms + std::min(options.read_timeout_ms, kDrainTimeoutMsMax);
}

void AdminHttpServer::Impl::Drain(Connection* c) {
  char buf[kReadChunkBytes];
  const ssize_t n = ::recv(c->fd.get(), buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    c->phase = Phase::kClosed;
    return;
  }
  c->drained_bytes += static_cast<size_t>(n);
  if (c->drained_bytes > kDrainBytesMax) c->phase = Phase::kClosed;
}

// ---- AdminHttpServer ----

Result<std::unique_ptr<AdminHttpServer>> AdminHttpServer::Start(
    const AdminHttpOptions& options, std::map<std::string, HttpHandler> get_routes,
    std::map<std::string, HttpPostHandler> post_routes,
    std::map<std::string, HttpPathHandler> get_prefix_routes) {
  if (options.connections_per_peer_max < 1) {
    return Status::InvalidArgument("admin connections_per_peer_max must be at least 1");
  }
  if (options.connections_max < 1 || options.connections_max > kAdminConnectionsMax) {
    return Status::InvalidArgument("admin connections_max must be 1..4096");
  }
  if (options.request_bytes_max < kAdminRequestBytesMin ||
      options.request_bytes_max > kAdminRequestBytesMax) {
    return Status::InvalidArgument("admin request_bytes_max must be 256..1048576");
  }
  if (options.read_timeout_ms < 1 || options.read_timeout_ms > kAdminTimeoutMsMax) {
    return Status::InvalidArgument("admin read_timeout_ms must be 1..600000");
  }
  if (options.handshakes_per_peer_per_second_max < 1 ||
      options.handshakes_per_peer_per_second_max > kAdminHandshakesPerSecondMax) {
    return Status::InvalidArgument("admin handshakes_per_peer_per_second_max must be 1..10000");
  }
  if (options.request_body_bytes_max < 1 ||
      options.request_body_bytes_max > kAdminRequestBodyBytesMax) {
    return Status::InvalidArgument("admin request_body_bytes_max must be 1..1048576");
  }
  if (get_routes.size() + post_routes.size() + get_prefix_routes.size() > kAdminRoutesMax) {
    return Status::InvalidArgument("admin server: more than 64 routes");
  }
  const auto bad_route = [](const std::string& path, bool has_handler) {
    return path.empty() || path[0] != '/' || path.find_first_of("?# ") != std::string::npos ||
           !has_handler;
  };
  for (const auto& [path, handler] : get_routes) {
    if (bad_route(path, static_cast<bool>(handler)) || post_routes.count(path) != 0) {
      return Status::InvalidArgument("admin route '" + path.substr(0, 64) +
                                     "' must be a path starting with '/', have a handler and be "
                                     "in one table");
    }
  }
  for (const auto& [path, handler] : post_routes) {
    if (bad_route(path, static_cast<bool>(handler))) {
      return Status::InvalidArgument("admin route '" + path.substr(0, 64) +
                                     "' must be a path starting with '/' and have a handler");
    }
  }
  for (const auto& [prefix, handler] : get_prefix_routes) {
    if (bad_route(prefix, static_cast<bool>(handler)) || prefix.back() != '/') {
      return Status::InvalidArgument("admin prefix route '" + prefix.substr(0, 64) +
                                     "' must start and end with '/' and have a handler");
    }
  }
  CAIRN_ASSIGN_OR_RETURN(ListenAddress address, ParseListen(options.listen));

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->tls = options.tls;
  impl->routes = std::move(get_routes);
  impl->post_routes = std::move(post_routes);
  impl->prefix_routes = std::move(get_prefix_routes);
  const int family = address.addr.ss_family;
  impl->listener = UniqueFd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (impl->listener.get() < 0) {
    return Status::IOError(std::string("admin listener socket: ") + std::strerror(errno));
  }
  const int one = 1;
  if (::setsockopt(impl->listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      (family == AF_INET6 &&
       ::setsockopt(impl->listener.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0)) {
    return Status::IOError(std::string("admin listener setsockopt: ") + std::strerror(errno));
  }
  if (::bind(impl->listener.get(), reinterpret_cast<const sockaddr*>(&address.addr),
             address.size_bytes) != 0) {
    const int err = errno;
    const std::string what = "binding admin listener " + options.listen + ": " + std::strerror(err);
    if (err == EADDRINUSE || err == EADDRNOTAVAIL || err == EACCES || err == EAFNOSUPPORT) {
      return Status::Unavailable(what);
    }
    return Status::IOError(what);
  }
  const int backlog =
      static_cast<int>(std::min<size_t>(options.connections_max, kListenBacklogMax));
  if (::listen(impl->listener.get(), backlog) != 0) {
    return Status::IOError(std::string("admin listener listen: ") + std::strerror(errno));
  }
  sockaddr_storage bound{};
  socklen_t bound_size = sizeof bound;
  if (::getsockname(impl->listener.get(), reinterpret_cast<sockaddr*>(&bound), &bound_size) != 0) {
    return Status::IOError(std::string("admin listener getsockname: ") + std::strerror(errno));
  }
  impl->port = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    return Status::IOError(std::string("admin server wake pipe: ") + std::strerror(errno));
  }
  impl->wake_read = UniqueFd(pipe_fds[0]);
  impl->wake_write = UniqueFd(pipe_fds[1]);
  try {
    impl->thread = std::thread([p = impl.get()] {
      SetCurrentThreadName("cairn-admin");
      // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a client gone mid-response must
      // give EPIPE, not kill the process. SIGPIPE is thread-directed: blocked here, it stays
      // pending on this thread and is never delivered.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      p->Run();
    });
  } catch (const std::exception&) {
    return Status::Internal("admin server: cannot start its thread");
  }
  return std::unique_ptr<AdminHttpServer>(new AdminHttpServer(std::move(impl)));
}

AdminHttpServer::AdminHttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminHttpServer::~AdminHttpServer() { Stop(); }

int AdminHttpServer::port() const { return impl_->port; }

Status AdminHttpServer::ReplaceTls(std::shared_ptr<const AdminTlsContext> tls) {
  if (tls == nullptr) return Status::InvalidArgument("no TLS context to serve");
  if (impl_->options.tls == nullptr) {
    return Status::FailedPrecondition("the admin listener serves plain HTTP");
  }
  std::lock_guard lock(impl_->tls_mu);
  impl_->tls = std::move(tls);
  return Status::Ok();
}

void AdminHttpServer::Stop() {
  std::lock_guard<std::mutex> lock(impl_->stop_mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  assert(std::this_thread::get_id() != impl_->thread.get_id() && "Stop() called from a handler");
  impl_->stopping.store(true, std::memory_order_release);
  const char byte = 1;
  while (::write(impl_->wake_write.get(), &byte, 1) < 0 && errno == EINTR) {
  }
  // A full pipe (EAGAIN) already holds a wake-up.
  impl_->thread.join();
  impl_->listener.Reset();
  impl_->wake_read.Reset();
  impl_->wake_write.Reset();
}

}  // namespace cairn::server
