// GET /tile/... on the admin listener: the log's Merkle tree as C2SP tlog-tiles
// (integrity/tile.h), so that tlog-tiles clients (monitors, witnesses that fetch their own
// proofs) can prove inclusion and consistency against /checkpoint, which is the spec's
// `<prefix>/checkpoint` with the admin listener's root as the prefix.
//
// Served: every hash tile, full or partial, of the tree of the latest STORED checkpoint (an
// older checkpoint's partial tiles too, as they are prefixes of tiles of the latest tree), with
// `Content-Type: application/octet-stream` and a year's immutable caching. 404 (never cached)
// for a path that is not a canonical tile path, for a tile of a larger tree than the latest
// checkpoint's, and for entry bundles (`tile/entries/...`): a cairn entry names its stream and
// event type, which the admin listener, having no authentication, does not disclose; an auditor
// reads entries through the authenticated API (`cairn verify`, Read). 503 when the store cannot
// be read. Bodies never echo the path.
//
// Cost: one checkpoint read and one ReadNodes of at most 256 nodes per request; nothing is
// signed or written on a request's behalf.
//
// Thread safety: as engine::EventStore (the admin listener's thread calls it).
#pragma once

#include <string_view>

#include "engine/event_store.h"
#include "server/admin_http.h"

namespace cairn::server {

inline constexpr char kTileRoutePrefix[] = "/tile/";
inline constexpr char kTileCacheControl[] = "public, max-age=31536000, immutable";

// `path`: the request path, starting with kTileRoutePrefix.
HttpResponse TileRoute(engine::EventStore& store, std::string_view path);

}  // namespace cairn::server
