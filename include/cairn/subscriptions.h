// cairn::Subscription — a live subscription (cairn.v1.Subscriptions.Subscribe) on a Client's
// connection: catch-up from a start point, then live, in log order.
//
//   v1::SubscribeRequest request;
//   request.set_stream("$all");
//   request.set_from_position(resume);
//   auto sub = Subscription::Start(*client, request);
//   for (;;) {
//     auto message = (*sub)->Next();
//     if (!message.ok()) break;                       // the end; see Next()
//     if (message->has_event()) Handle(message->event());
//   }
//   resume = (*sub)->resume_position();               // subscribe again from here
//
// Next() yields one message at a time: an `event`, a `checkpoint` or `caught_up`. Batches that
// the server sends (`events`) are split, so a caller — e.g. a verifying consumer that checks
// each event before handing it on — only ever sees single events, in log order.
//
// The subscription never ends by itself. It ends with the server's status (RESOURCE_EXHAUSTED:
// fell behind; UNAVAILABLE: server shutting down; PERMISSION_DENIED: lost its grant;
// UNAUTHENTICATED), with a transport error, or with Cancel(). resume_position() is always the
// position to subscribe again from (from_position) without loss or repetition: one past the last
// event returned by Next(), or a later checkpoint's position. On RESOURCE_EXHAUSTED and
// UNAVAILABLE from the server, Status::detail() carries the same position.
//
// Thread safety: Next()/NextInto() and resume_position() from one thread at a time; Cancel()
// from any thread, at any time (e.g. a signal watcher), also while Next() blocks.
// Ownership: the Client must outlive the Subscription.
#pragma once

#include <cstdint>
#include <memory>

#include "cairn/client.h"
#include "cairn/v1/subscriptions.pb.h"
#include "common/status.h"

namespace cairn {

struct SubscriptionOptions {
  // Deadline of the whole subscription from Start(); 0: none (a subscription is long-lived).
  int64_t deadline_ms = 0;
};

class Subscription {
 public:
  // Starts the call and returns at once; a refusal (UNAUTHENTICATED, PERMISSION_DENIED,
  // RESOURCE_EXHAUSTED for the server's subscriber limit, INVALID_ARGUMENT) is returned by the
  // first Next(). kInvalidArgument here only for a request that cannot be sent (no stream).
  static Result<std::unique_ptr<Subscription>> Start(Client& client,
                                                     const v1::SubscribeRequest& request,
                                                     SubscriptionOptions options = {});
  virtual ~Subscription() = default;  // cancels the call if it is still running

  // Blocks for the next message (never an `events` batch: those are split). After the end, each
  // call returns the same error: the server's status, or kUnavailable "subscription cancelled"
  // after Cancel().
  Result<v1::SubscribeResponse> Next() {
    v1::SubscribeResponse message;
    if (Status s = NextInto(&message); !s.ok()) return s;
    return message;
  }
  // Next() into *out, reusing its memory: a consumer that passes the same message every time
  // allocates nothing per event once warm (the subscription reuses its own buffers too). *out is
  // replaced (an `event`, a `checkpoint` or `caught_up`); after an error it is unspecified.
  virtual Status NextInto(v1::SubscribeResponse* out) = 0;
  // Ends the subscription; a blocked Next() or NextInto() returns soon after. Idempotent.
  virtual void Cancel() = 0;
  virtual bool cancelled() const = 0;
  // Where to subscribe again (from_position) to continue without loss or repetition. Before any
  // event or checkpoint: the request's from_position (0 for other start kinds).
  virtual uint64_t resume_position() const = 0;
};

}  // namespace cairn
