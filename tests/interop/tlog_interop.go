// tlog_interop checks a cairn log with an independent implementation of the formats cairn
// publishes: golang.org/x/mod/sumdb/note (signed notes, Ed25519) and golang.org/x/mod/sumdb/tlog
// (RFC 6962 trees, proofs and tiles), the Go packages the C2SP tlog-tiles and signed-note specs
// grew out of. Debian packages them as golang-golang-x-mod-dev; `make interop` builds this file in
// GOPATH mode, offline. Used by tests/integration/interop_test.cc.
//
// usage:
//
//	tlog_interop check URL VKEY [PROOFS_JSON]
//	    Fetches URL/checkpoint, opens it with the verifier key VKEY (note.Open), reads the tree's
//	    hashes from URL/tile/... (tlog.TileHashReader, which authenticates every tile against
//	    the signed root), recomputes the root (tlog.TreeHash), and, when PROOFS_JSON is given,
//	    checks cairn's inclusion and consistency proofs with tlog.CheckRecord/CheckTree and
//	    compares them hash by hash with the proofs tlog.ProveRecord/ProveTree build from the tiles.
//	tlog_interop sign NAME TEXT_FILE
//	    Generates an Ed25519 note key named NAME (a throwaway test key), signs the text with
//	    note.Sign and prints the verifier key on the first line, the signer key on the second,
//	    then the signed note.
//
// Exit status 0 when every check passes; 1 with a message on stderr otherwise; 2 on usage errors.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	tileHeight        = 8                // C2SP tlog-tiles: 256 hashes per tile
	responseBytesMax  = 1 << 20          // a checkpoint or a tile (8,192 bytes) is far smaller
	fetchTimeout      = 10 * time.Second // per request
	tilesPerCheckMax  = 1 << 16          // bounds the tiles one run may fetch
	proofsPerCheckMax = 1024             // bounds the proofs file
)

// Proofs is the file the C++ test writes: cairn's own proofs, as its API returned them.
type Proofs struct {
	Inclusion []struct {
		Index    int64    `json:"index"`
		Size     int64    `json:"size"`
		LeafHash string   `json:"leaf_hash"` // hex
		Proof    []string `json:"proof"`     // hex
	} `json:"inclusion"`
	Consistency []struct {
		OldCheckpoint string   `json:"old_checkpoint"` // the older signed note, verified here too
		Size          int64    `json:"size"`
		Proof         []string `json:"proof"` // hex
	} `json:"consistency"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tlog_interop: "+format+"\n", args...)
	os.Exit(1)
}

func fetch(url string) ([]byte, error) {
	client := http.Client{Timeout: fetchTimeout}
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, responseBytesMax+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	if len(body) > responseBytesMax {
		return nil, fmt.Errorf("GET %s: response over %d bytes", url, responseBytesMax)
	}
	return body, nil
}

// openCheckpoint verifies a C2SP checkpoint's signature with note.Open and parses its body:
// origin, tree size, base64 root (further lines are extensions).
func openCheckpoint(msg []byte, verifier note.Verifier) (origin string, tree tlog.Tree, err error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		return "", tree, fmt.Errorf("note.Open: %w", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] == "" {
		return "", tree, fmt.Errorf("checkpoint body has fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", tree, fmt.Errorf("checkpoint size %q is not a decimal number", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return "", tree, fmt.Errorf("checkpoint root %q is not 32 bytes of base64", lines[2])
	}
	tree.N = size
	copy(tree.Hash[:], root)
	return lines[0], tree, nil
}

// tileReader serves tlog's tile requests from a C2SP tlog-tiles prefix. x/mod names a tile
// tile/<H>/<L>/<N>; C2SP fixes H at 8 and drops it: tile/<L>/<N>.
type tileReader struct {
	url     string
	fetched int
}

func (r *tileReader) Height() int { return tileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t.H != tileHeight || t.L < 0 {
			return nil, fmt.Errorf("unexpected tile %+v", t)
		}
		r.fetched++
		if r.fetched > tilesPerCheckMax {
			return nil, fmt.Errorf("more than %d tiles requested", tilesPerCheckMax)
		}
		path := "tile/" + strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", tileHeight))
		body, err := fetch(r.url + "/" + path)
		if err != nil {
			return nil, err
		}
		if len(body) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", path, len(body), t.W*tlog.HashSize)
		}
		data[i] = body
	}
	return data, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		return h, fmt.Errorf("%q is not a 32-byte hex hash", s)
	}
	copy(h[:], b)
	return h, nil
}

func parseHashes(list []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(list))
	for i, s := range list {
		h, err := parseHash(s)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

func sameHashes(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i][:], b[i][:]) {
			return false
		}
	}
	return true
}

func checkInclusion(p Proofs, tree tlog.Tree, hr tlog.HashReader) {
	for _, in := range p.Inclusion {
		if in.Size != tree.N {
			fail("inclusion %d: size %d, not the checkpoint's %d", in.Index, in.Size, tree.N)
		}
		leaf, err := parseHash(in.LeafHash)
		if err != nil {
			fail("inclusion %d: leaf hash: %v", in.Index, err)
		}
		proof, err := parseHashes(in.Proof)
		if err != nil {
			fail("inclusion %d: proof: %v", in.Index, err)
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, in.Index, leaf); err != nil {
			fail("inclusion %d: cairn's proof fails tlog.CheckRecord: %v", in.Index, err)
		}
		fromTiles, err := tlog.ProveRecord(tree.N, in.Index, hr)
		if err != nil {
			fail("inclusion %d: tlog.ProveRecord from the tiles: %v", in.Index, err)
		}
		if !sameHashes(proof, fromTiles) {
			fail("inclusion %d: cairn's proof differs from the one built from the tiles", in.Index)
		}
		stored, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, in.Index)})
		if err != nil || stored[0] != leaf {
			fail("inclusion %d: the level 0 tile does not hold the leaf hash cairn sent", in.Index)
		}
		fmt.Printf("inclusion %d in %d: OK (%d hashes)\n", in.Index, tree.N, len(proof))
	}
}

func checkConsistency(p Proofs, tree tlog.Tree, hr tlog.HashReader, verifier note.Verifier) {
	for _, c := range p.Consistency {
		_, old, err := openCheckpoint([]byte(c.OldCheckpoint), verifier)
		if err != nil {
			fail("consistency: the older checkpoint: %v", err)
		}
		if c.Size != tree.N {
			fail("consistency %d to %d: not the checkpoint's size %d", old.N, c.Size, tree.N)
		}
		proof, err := parseHashes(c.Proof)
		if err != nil {
			fail("consistency %d to %d: proof: %v", old.N, tree.N, err)
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, old.N, old.Hash); err != nil {
			fail("consistency %d to %d: cairn's proof fails tlog.CheckTree: %v", old.N, tree.N, err)
		}
		fromTiles, err := tlog.ProveTree(tree.N, old.N, hr)
		if err != nil {
			fail("consistency %d to %d: tlog.ProveTree from the tiles: %v", old.N, tree.N, err)
		}
		if !sameHashes(proof, fromTiles) {
			fail("consistency %d to %d: cairn's proof differs from the one built from the tiles",
				old.N, tree.N)
		}
		fmt.Printf("consistency %d to %d: OK (%d hashes)\n", old.N, tree.N, len(proof))
	}
}

func check(url, vkey, proofsFile string) {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	url = strings.TrimSuffix(url, "/")
	msg, err := fetch(url + "/checkpoint")
	if err != nil {
		fail("checkpoint: %v", err)
	}
	origin, tree, err := openCheckpoint(msg, verifier)
	if err != nil {
		fail("checkpoint: %v", err)
	}
	fmt.Printf("checkpoint %s: size %d, signed by %s: OK\n", origin, tree.N, verifier.Name())

	reader := &tileReader{url: url}
	hr := tlog.TileHashReader(tree, reader)
	root, err := tlog.TreeHash(tree.N, hr)
	if err != nil {
		fail("tiles: %v", err)
	}
	if root != tree.Hash {
		fail("tiles: tlog.TreeHash gives %s, the checkpoint says %s", root, tree.Hash)
	}
	fmt.Printf("tiles: tlog.TreeHash %s equals the signed root (%d tiles read): OK\n",
		root, reader.fetched)

	if proofsFile != "" {
		text, err := os.ReadFile(proofsFile)
		if err != nil {
			fail("%v", err)
		}
		var p Proofs
		if err := json.Unmarshal(text, &p); err != nil {
			fail("%s: %v", proofsFile, err)
		}
		if len(p.Inclusion)+len(p.Consistency) > proofsPerCheckMax {
			fail("%s: more than %d proofs", proofsFile, proofsPerCheckMax)
		}
		checkInclusion(p, tree, hr)
		checkConsistency(p, tree, hr, verifier)
	}
	fmt.Println("OK")
}

func sign(name, textFile string) {
	text, err := os.ReadFile(textFile)
	if err != nil {
		fail("%v", err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		fail("note.GenerateKey: %v", err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		fail("note.NewSigner: %v", err)
	}
	msg, err := note.Sign(&note.Note{Text: string(text)}, signer)
	if err != nil {
		fail("note.Sign: %v", err)
	}
	fmt.Printf("%s\n%s\n%s", vkey, skey, msg)
}

func main() {
	args := os.Args[1:]
	switch {
	case len(args) >= 3 && len(args) <= 4 && args[0] == "check":
		proofs := ""
		if len(args) == 4 {
			proofs = args[3]
		}
		check(args[1], args[2], proofs)
	case len(args) == 3 && args[0] == "sign":
		sign(args[1], args[2])
	default:
		fmt.Fprintln(os.Stderr, "usage: tlog_interop check URL VKEY [PROOFS_JSON] | sign NAME TEXT_FILE")
		os.Exit(2)
	}
}
