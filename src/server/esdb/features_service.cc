#include "server/esdb/features_service.h"

#include <cctype>
#include <string>

namespace cairn::server::esdb {
namespace {

constexpr std::string_view kStreams = "event_store.client.streams.Streams";
constexpr std::string_view kPersistent =
    "event_store.client.persistent_subscriptions.PersistentSubscriptions";
constexpr std::string_view kFeatures = "event_store.client.server_features.ServerFeatures";
constexpr std::string_view kGossip = "event_store.client.gossip.Gossip";

// The clients compare lower-cased names.
std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const std::vector<SupportedMethod>& ImplementedMethods() {
  // Persistent subscriptions work on a stream and on $all: the clients look for both features.
  static const std::vector<SupportedMethod> kMethods = {
      {kStreams, "Read", {}},
      {kStreams, "Append", {}},
      {kStreams, "BatchAppend", {}},
      {kStreams, "Delete", {}},
      {kStreams, "Tombstone", {}},
      {kPersistent, "Create", {"stream", "all"}},
      {kPersistent, "Update", {"stream", "all"}},
      {kPersistent, "Delete", {"stream", "all"}},
      {kPersistent, "Read", {"stream", "all"}},
      {kPersistent, "GetInfo", {"stream", "all"}},
      {kPersistent, "ReplayParked", {"stream", "all"}},
      {kPersistent, "List", {"stream", "all"}},
      {kFeatures, "GetSupportedMethods", {}},
      {kGossip, "Read", {}},
  };
  return kMethods;
}

grpc::ServerUnaryReactor* ServerFeaturesService::GetSupportedMethods(
    grpc::CallbackServerContext* context, const event_store::client::Empty* /*request*/,
    event_store::client::server_features::SupportedMethods* response) {
  if (grpc::Status s = gate_->AdmitPeer(context); !s.ok()) {
    grpc::ServerUnaryReactor* refused = context->DefaultReactor();
    refused->Finish(s);
    return refused;
  }
  for (const SupportedMethod& method : ImplementedMethods()) {
    auto* wire = response->add_methods();
    wire->set_service_name(Lower(method.service));
    wire->set_method_name(Lower(method.method));
    for (std::string_view feature : method.features) wire->add_features(std::string(feature));
  }
  response->set_event_store_server_version(std::string(kProtocolVersion));
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace cairn::server::esdb
