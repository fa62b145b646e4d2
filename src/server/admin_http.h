// AdminHttpServer: a small, hardened HTTP/1.1 server for the admin listener (/healthz, /readyz,
// /checkpoint, /metrics) and for `cairn witness serve` (POST /add-checkpoint). It is separate from
// the gRPC listener and binds loopback by default (DESIGN.md, Identity and access). No HTTP
// library: POSIX sockets and one poll(2) loop thread.
//
// Protocol, deliberately narrow:
// - One request per connection; every response carries `Connection: close`, then the server
//   half-closes, discards what the client still sends (up to a limit, at most one second) and
//   closes. No keep-alive, no pipelining, no chunked encoding.
// - GET and HEAD on the GET routes, POST on the POST routes; another method on a known path gets
//   405 with the `Allow` header of that path. HEAD gets the GET headers (Content-Length included)
//   without the body.
// - A POST body needs a Content-Length (411 without one or with Transfer-Encoding, 400 for a
//   malformed or repeated one, 413 above request_body_bytes_max); the handler gets it whole.
//   Bodies sent to GET routes are not read (the connection is drained after the response).
// - Routing is by exact path, then by the longest prefix route (a path ending in '/', such as
//   "/tile/") that the path starts with; the query string and fragment are ignored. Unknown
//   path: 404.
// - A request line and headers larger than request_bytes_max: 431, then close. Malformed request
//   line or header, obsolete line folding, a missing Host header on HTTP/1.1: 400. HTTP versions
//   other than 1.0 and 1.1: 505.
// - The whole request must arrive within read_timeout_ms of the accept, and the response must
//   drain within read_timeout_ms of being ready; otherwise the connection is closed silently.
// - Every response has Content-Type, Content-Length, Cache-Control (the handler's, `no-store`
//   unless it says otherwise; errors the server makes are always `no-store`) and
//   `X-Content-Type-Options: nosniff`.
// - allow_peer (if set) sees the peer's IP ("127.0.0.1", "::1") right after accept; false closes
//   the connection without a response. When connections_max connections are open, or
//   connections_per_peer_max from the same non-loopback peer address, new ones are accepted and
//   closed at once (so the kernel backlog cannot grow, and one remote peer cannot take every
//   slot and starve the health probes of others). With TLS, a peer that is not local may also
//   open at most handshakes_per_peer_per_second_max connections per second.
// - With `tls`, every connection is TLS (server/admin_tls.h) and nothing else is served: the
//   handshake counts against read_timeout_ms like the request, a failed one (a plain HTTP
//   request, a refused client certificate) closes the connection without a response, and the
//   response is followed by close_notify.
//
// Handlers run on the loop thread, one at a time: a slow handler delays other admin requests (never
// the data path), and a handler never runs concurrently with itself or another handler. A handler
// that needs state shared with other threads synchronises it itself. A handler that throws gets a
// 500. A handler must not call Stop() (it would wait for itself).
//
// Thread safety: Start() is thread-safe; port(), ReplaceTls() and Stop() may be called from any
// thread, Stop() any number of times. The destructor calls Stop().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "server/admin_tls.h"

namespace cairn::server {

// Limits on the options (Start() rejects values outside them with kInvalidArgument).
inline constexpr size_t kAdminConnectionsMax = 4096;
inline constexpr size_t kAdminRequestBytesMin = 256;
inline constexpr size_t kAdminRequestBytesMax = 1024 * 1024;
inline constexpr int64_t kAdminTimeoutMsMax = 10 * 60 * 1000;
inline constexpr size_t kAdminRoutesMax = 64;
inline constexpr size_t kAdminRequestBodyBytesMax = 1024 * 1024;
inline constexpr size_t kAdminHandshakesPerSecondMax = 10000;

struct AdminHttpOptions {
  // "ipv4:port" or "[ipv6]:port", numeric addresses only; port 0 picks a free port.
  std::string listen = "127.0.0.1:7401";
  size_t connections_max = 64;                         // 1 .. kAdminConnectionsMax
  size_t connections_per_peer_max = 8;                 // >= 1 (connections_max bounds it too)
  // Loopback peers are local processes (probes, scrapers, cairn's own tools) that all share one
  // address: by default they have no per-peer limit, only connections_max.
  bool per_peer_limit_on_loopback = false;
  // Of connections_max, the slots only local peers may take: remote peers together hold at most
  // connections_max - local_reserved_connections, so that clients of the allowed networks cannot
  // starve the local health probes and scrapers. At most half of connections_max is reserved.
  size_t local_reserved_connections = 8;
  // Which peers are local (the reserve, and no per-peer limit unless per_peer_limit_on_loopback);
  // null: loopback addresses (127.0.0.0/8, ::1). Called on the loop thread.
  std::function<bool(std::string_view peer_ip)> local_peer;
  size_t request_bytes_max = 8192;                     // request line + headers
  size_t response_bytes_max = size_t{8} * 1024 * 1024;  // a larger handler body gives 500
  size_t request_body_bytes_max = 64 * 1024;           // POST bodies: 1 .. kAdminRequestBodyBytesMax
  int64_t read_timeout_ms = 5000;                      // 1 .. kAdminTimeoutMsMax
  // Called with the peer's IP on the loop thread; null allows everyone.
  std::function<bool(std::string_view peer_ip)> allow_peer;
  // HTTPS on every connection; null: plain HTTP.
  std::shared_ptr<const AdminTlsContext> tls;
  // With tls: connections a peer that is not local may open per second (each costs the loop
  // thread a handshake's key exchange and signature before any client certificate is seen);
  // more are accepted and closed at once. 1 .. kAdminHandshakesPerSecondMax.
  size_t handshakes_per_peer_per_second_max = 20;
};

struct HttpResponse {
  int status = 200;  // 100..599, else the client gets 500
  std::string content_type = "text/plain; charset=utf-8";  // no CR/LF, else 500
  std::string body;
  // Printable ASCII, at most 128 bytes, else 500. Only a resource that never changes may be
  // cached (e.g. "public, max-age=31536000, immutable").
  std::string cache_control = "no-store";
};

using HttpHandler = std::function<HttpResponse()>;
// A POST route's handler: the request body, whole (at most request_body_bytes_max bytes).
using HttpPostHandler = std::function<HttpResponse(std::string_view body)>;
// A GET prefix route's handler: the request's path (starting with the route's prefix, without
// query or fragment), as sent (not percent-decoded); it answers 404 for paths it does not serve.
using HttpPathHandler = std::function<HttpResponse(std::string_view path)>;

class AdminHttpServer {
 public:
  // Binds, listens and starts the loop thread. `get_routes` and `post_routes` map exact paths
  // ("/healthz"; each starting with '/', at most kAdminRoutesMax in all, none in both) to
  // handlers; `get_prefix_routes` maps prefixes (starting and ending with '/') to the handler of
  // every GET path under them that no exact route names. Errors: kInvalidArgument for bad options
  // or routes, kUnavailable when the address cannot be bound (in use, not available), kIOError
  // for other socket failures.
  static Result<std::unique_ptr<AdminHttpServer>> Start(
      const AdminHttpOptions& options, std::map<std::string, HttpHandler> get_routes,
      std::map<std::string, HttpPostHandler> post_routes = {},
      std::map<std::string, HttpPathHandler> get_prefix_routes = {});
  ~AdminHttpServer();
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  // The bound port (the ephemeral one when options.listen asked for port 0).
  int port() const;
  // Serves `tls` on connections accepted from now on (a certificate rotated, server/tls_reload.h);
  // open connections keep theirs. kFailedPrecondition when the listener was started without TLS
  // (it does not change protocol), kInvalidArgument for null.
  Status ReplaceTls(std::shared_ptr<const AdminTlsContext> tls);
  // Stops accepting, closes every connection (responses in flight are cut), joins the loop thread
  // and closes the listener. Returns once the thread has exited: within one handler call.
  void Stop();

  struct Impl;  // admin_http.cc

 private:
  explicit AdminHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::server
