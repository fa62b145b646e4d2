// event_store.client.server_features.ServerFeatures: the methods of the EventStoreDB/KurrentDB
// protocol this server implements (docs/eventstoredb-clients.md).
//
// The official clients call GetSupportedMethods once per connection, without credentials, and
// choose their code paths from the answer (e.g. BatchAppend, persistent subscriptions to $all;
// a method they do not find listed makes them fall back to EventStoreDB's HTTP API, which cairn
// does not serve). So this one call is answered without authentication: it discloses only the
// protocol (the method list and the protocol level kProtocolVersion, never cairn's version or
// any data), and the peer allowlist still applies to the connection.
//
// Thread safety: stateless; safe for concurrent calls.
#pragma once
#include <string_view>
#include <vector>

#include "event_store/client/serverfeatures.grpc.pb.h"
#include "server/call_gate.h"

namespace cairn::server::esdb {

// The EventStoreDB server version whose protocol cairn speaks; clients gate features on it.
inline constexpr std::string_view kProtocolVersion = "24.10.0";

struct SupportedMethod {
  std::string_view service;  // full name, e.g. "event_store.client.streams.Streams"
  std::string_view method;   // e.g. "BatchAppend"
  std::vector<std::string_view> features;
};

// Every method cairn implements, exactly (tests call each one and the ones left out).
const std::vector<SupportedMethod>& ImplementedMethods();

class ServerFeaturesService final
    : public event_store::client::server_features::ServerFeatures::CallbackService {
 public:
  // `gate` checks each call's peer (no credentials: discovery answers before a client
  // authenticates).
  explicit ServerFeaturesService(const CallGate* gate) : gate_(gate) {}
  grpc::ServerUnaryReactor* GetSupportedMethods(
      grpc::CallbackServerContext* context, const event_store::client::Empty* request,
      event_store::client::server_features::SupportedMethods* response) override;

 private:
  const CallGate* gate_;
};

}  // namespace cairn::server::esdb
