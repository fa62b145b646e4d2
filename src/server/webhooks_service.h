// cairn.v1.Webhooks: create, list, delete and rotate the secret of webhook subscriptions
// (subscribe/webhook_dispatcher.h). Every method needs action `admin` (resource "*"). The
// creating principal is recorded as the webhook's delivering identity (with `run_as`, when
// given, as a second identity that must allow too). Secrets are returned by Create and
// RotateSecret only; List never shows one. `dispatcher` is null on a node that does not
// dispatch webhooks ([webhooks] dispatch = false): every method then answers
// FAILED_PRECONDITION after authorization.
//
// Thread safety: gRPC calls the methods concurrently; the dispatcher is thread-safe.
#pragma once

#include "cairn/v1/webhooks.grpc.pb.h"
#include "server/call_gate.h"
#include "subscribe/webhook_dispatcher.h"

namespace cairn::server {

class WebhooksService final : public v1::Webhooks::Service {
 public:
  WebhooksService(subscribe::WebhookDispatcher* dispatcher, const CallGate* gate)
      : dispatcher_(dispatcher), gate_(gate) {}

  grpc::Status Create(grpc::ServerContext* context, const v1::CreateWebhookRequest* request,
                      v1::CreateWebhookResponse* response) override;
  grpc::Status List(grpc::ServerContext* context, const v1::ListWebhooksRequest* request,
                    v1::ListWebhooksResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context, const v1::DeleteWebhookRequest* request,
                      v1::DeleteWebhookResponse* response) override;
  grpc::Status RotateSecret(grpc::ServerContext* context,
                            const v1::RotateWebhookSecretRequest* request,
                            v1::RotateWebhookSecretResponse* response) override;

 private:
  grpc::Status AdmitAdmin(grpc::ServerContext* context, CallIdentity* id) const;

  subscribe::WebhookDispatcher* dispatcher_;
  const CallGate* gate_;
};

}  // namespace cairn::server
