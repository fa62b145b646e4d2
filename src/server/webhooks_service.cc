#include "server/webhooks_service.h"

#include "server/call_audit.h"
#include "server/status_map.h"
#include "subscribe/webhook_address_guard.h"

namespace cairn::server {
namespace {

// The URL as listed: scheme, host and port only. Paths and queries often hold a token (Slack's
// /services/T…/B…/<token>, Azure Functions' ?code=…), and listings end up in terminals, CI logs
// and tickets; what follows the authority is shown as "/<redacted>".
std::string ListedUrl(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "<redacted>";
  const size_t authority_end = url.find_first_of("/?#", scheme_end + 3);
  if (authority_end == std::string::npos) return url;
  const std::string rest = url.substr(authority_end);
  return url.substr(0, authority_end) + (rest == "/" ? "/" : "/<redacted>");
}

void WebhookToWire(const subscribe::WebhookStatus& s, v1::WebhookInfo* out) {
  const subscribe::WebhookDefinition& d = s.def;
  out->set_name(d.name);
  out->set_url(ListedUrl(d.url));
  out->set_source(d.source);
  for (const auto& t : d.filter_types) out->add_filter_types(t);
  for (const auto& a : d.allow_addresses) out->add_allow_addresses(a);
  out->set_principal(d.creator.id);
  out->set_run_as(d.run_as);
  out->set_created_unix_s(d.created_unix_s);
  out->set_position(s.position);
  out->set_delivered(s.delivered);
  out->set_parked(s.parked);
  out->set_last_error(s.last_error);
  out->set_secret_version(d.secret_version);
}

}  // namespace

grpc::Status WebhooksService::AdmitAdmin(grpc::ServerContext* context, CallIdentity* id) const {
  if (grpc::Status s = gate_->Admit(context, id); !s.ok()) return s;
  if (grpc::Status s = Require(*id, policy::Action::kAdmin, "*", ""); !s.ok()) return s;
  if (dispatcher_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this node does not dispatch webhooks ([webhooks] dispatch = false); "
                        "manage webhooks on the node that does");
  }
  return grpc::Status::OK;
}

grpc::Status WebhooksService::Create(grpc::ServerContext* context,
                                     const v1::CreateWebhookRequest* request,
                                     v1::CreateWebhookResponse* response) {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  AdminAct act;
  if (grpc::Status s = AdminAct::Begin(id, "webhook.create", request->name(), &act); !s.ok()) {
    return s;
  }
  // Where the events will go and whose rights choose them: the host (never the URL's path or
  // query, which often hold a token), the delivering identity, the guard's exceptions.
  act.AddDetail("source", request->source());
  if (auto target = subscribe::ParseWebhookUrl(request->url()); target.ok()) {
    act.AddDetail("host", target->host + ":" + std::to_string(target->port));
  }
  act.AddDetail("run_as", request->run_as().empty() ? id.principal.id : request->run_as());
  std::string allowed;
  for (const std::string& a : request->allow_addresses()) allowed += (allowed.empty() ? "" : ",") + a;
  if (!allowed.empty()) act.AddDetail("allow_addresses", allowed);  // cut at 1 KiB when encoded
  subscribe::WebhookCreate create;
  subscribe::WebhookDefinition& def = create.def;
  def.name = request->name();
  def.url = request->url();
  def.source = request->source();
  def.filter_types.assign(request->filter_types().begin(), request->filter_types().end());
  def.allow_addresses.assign(request->allow_addresses().begin(), request->allow_addresses().end());
  def.creator = id.principal;
  def.run_as = request->run_as();
  create.secret = request->secret();
  if (!request->from_end()) create.start = request->from_position();
  auto secret = dispatcher_->Create(std::move(create));
  if (!secret.ok()) return act.Finish(ToGrpcStatus(secret.status()));
  response->set_secret(*secret);
  for (const auto& s : dispatcher_->List()) {
    if (s.def.name == request->name()) WebhookToWire(s, response->mutable_webhook());
  }
  return act.Finish(grpc::Status::OK);
}

grpc::Status WebhooksService::List(grpc::ServerContext* context, const v1::ListWebhooksRequest*,
                                   v1::ListWebhooksResponse* response) {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  for (const auto& s : dispatcher_->List()) WebhookToWire(s, response->add_webhooks());
  return grpc::Status::OK;
}

grpc::Status WebhooksService::Delete(grpc::ServerContext* context,
                                     const v1::DeleteWebhookRequest* request,
                                     v1::DeleteWebhookResponse*) {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  AdminAct act;
  if (grpc::Status s = AdminAct::Begin(id, "webhook.delete", request->name(), &act); !s.ok()) {
    return s;
  }
  return act.Finish(ToGrpcStatus(dispatcher_->Delete(request->name())));
}

grpc::Status WebhooksService::RotateSecret(grpc::ServerContext* context,
                                           const v1::RotateWebhookSecretRequest* request,
                                           v1::RotateWebhookSecretResponse* response) {
  CallIdentity id;
  if (grpc::Status s = AdmitAdmin(context, &id); !s.ok()) return s;
  AdminAct act;
  if (grpc::Status s = AdminAct::Begin(id, "webhook.rotate_secret", request->name(), &act);
      !s.ok()) {
    return s;
  }
  auto rotated = dispatcher_->RotateSecret(request->name(), request->secret(), request->grace_s());
  if (!rotated.ok()) return act.Finish(ToGrpcStatus(rotated.status()));
  response->set_secret(rotated->secret);
  response->set_secret_version(rotated->secret_version);
  response->set_previous_expires_unix_s(rotated->previous_expires_unix_s);
  act.AddDetail("secret_version", std::to_string(rotated->secret_version));
  return act.Finish(grpc::Status::OK);
}

}  // namespace cairn::server
