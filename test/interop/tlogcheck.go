// tlogcheck: checks hcledger's receipts with the Go checksum database's own
// packages (golang.org/x/mod/sumdb/note and sumdb/tlog), code nobody on
// this project wrote.  hcledger's format is used only to find the fields:
// the note is opened by note.Open with the verifier key given, the
// checkpoint text is read as C2SP tlog-checkpoint, and the proofs are
// checked by tlog.CheckRecord and tlog.CheckTree.
//
// Usage: tlogcheck VERIFIER_KEY RECEIPT_FILE
//
//	tlogcheck tiles VERIFIER_KEY DIR [OLD_CHECKPOINT_FILE]
//
// The second form reads a static C2SP tlog-tiles tree (hcledger-export-tiles)
// through tlog.TileHashReader, which authenticates every tile it reads
// against the signed root: it checks the tree hash, inclusion proofs of a
// sample of entries, every entry bundle against the level-0 tiles and, given
// an older checkpoint, the consistency proof from it.
// Prints "ok: ..." and exits 0, or "FAIL: ..." and exits 1 (2: usage).
package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type receipt struct {
	Format        string   `json:"format"`
	Row           *int64   `json:"row"`
	Leaf          *string  `json:"leaf"`
	LeafHash      string   `json:"leaf_hash"`
	LeafIndex     int64    `json:"leaf_index"`
	TreeSize      int64    `json:"tree_size"`
	Proof         []string `json:"proof"`
	Checkpoint    string   `json:"checkpoint"`
	OldCheckpoint string   `json:"old_checkpoint"`
	NewCheckpoint string   `json:"new_checkpoint"`
}

type tree struct {
	origin string
	size   int64
	root   tlog.Hash
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// open verifies the signed note and reads its first three lines.
func open(text string, verifiers note.Verifiers) tree {
	n, err := note.Open([]byte(text), verifiers)
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("the checkpoint has fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		fail("tree size %q", lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		fail("root hash %q", lines[2])
	}
	if n.Sigs[0].Name != lines[0] {
		fail("signed by %q, not the origin %q", n.Sigs[0].Name, lines[0])
	}
	var t tree
	t.origin, t.size = lines[0], size
	copy(t.root[:], raw)
	return t
}

func proof(hexes []string) []tlog.Hash {
	p := make([]tlog.Hash, len(hexes))
	for i, h := range hexes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != tlog.HashSize {
			fail("proof hash %d: %q", i, h)
		}
		copy(p[i][:], b)
	}
	return p
}

// dirTiles reads tiles from a tlog-tiles directory (C2SP paths have no
// height element: tile/<L>/<N>, where Go's sumdb writes tile/8/<L>/<N>).
type dirTiles struct {
	dir   string
	cache map[string][]byte
}

func (d *dirTiles) Height() int { return 8 }

func (d *dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		path := tilePath(d.dir, t)
		if data, ok := d.cache[path]; ok {
			out[i] = data
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		d.cache[path] = data
		out[i] = data
	}
	return out, nil
}

func (d *dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func readNote(path string, verifiers note.Verifiers) tree {
	return open(string(readFile(path)), verifiers)
}

// memHashes is a tlog.HashReader over stored hashes computed here.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("stored hash %d not computed", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

func readFile(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return data
}

func tilePath(dir string, t tlog.Tile) string {
	return dir + "/tile/" + strings.TrimPrefix(t.Path(), "tile/8/")
}

// checkTiles reads a tlog-tiles tree two ways.  First from the leaves up:
// the leaf hashes (of the entry bundles' entries when the tree has them,
// else of the level-0 tiles) give every stored hash (tlog.StoredHashes-
// ForRecordHash), whose tree hash must be the signed root, and every tile
// file of the tree must hold exactly those hashes.  Then as a client does,
// through tlog.TileHashReader: inclusion proofs of a sample of entries and
// the consistency proof from an older checkpoint, each checked against the
// signed roots.  (The first pass does not rely on TileHashReader to
// authenticate tiles: in x/mod 0.7.0, Debian 12's, it skips checking some
// tiles against their parents when several of the tree hash's subtrees
// share a tile; the proofs are safe because CheckRecord and CheckTree check
// them against the roots.)
func checkTiles(verifiers note.Verifiers, dir string, old string) {
	t := readNote(dir+"/checkpoint", verifiers)
	_, err := os.Stat(dir + "/tile/entries")
	withEntries := err == nil
	var stored memHashes
	bundles := 0
	for n := int64(0); n*256 < t.size; n++ {
		w := t.size - n*256
		if w > 256 {
			w = 256
		}
		tile := tlog.Tile{H: 8, L: 0, N: n, W: int(w)}
		hashes := readFile(tilePath(dir, tile))
		if int64(len(hashes)) != 32*w {
			fail("%s: %d bytes, not %d", tilePath(dir, tile), len(hashes), 32*w)
		}
		var data []byte
		path := dir + "/tile/entries/" + strings.TrimPrefix(tile.Path(), "tile/8/0/")
		if withEntries {
			data = readFile(path)
			bundles++
		}
		for i := int64(0); i < w; i++ {
			var h tlog.Hash
			copy(h[:], hashes[32*i:])
			if withEntries {
				if len(data) < 2 || len(data) < 2+(int(data[0])<<8|int(data[1])) {
					fail("%s: entry %d is cut short", path, i)
				}
				size := int(data[0])<<8 | int(data[1])
				if tlog.RecordHash(data[2:2+size]) != h {
					fail("%s: entry %d does not hash to leaf %d of the tree", path, i, n*256+i)
				}
				data = data[2+size:]
			}
			more, err := tlog.StoredHashesForRecordHash(n*256+i, h, stored)
			if err != nil {
				fail("tlog.StoredHashesForRecordHash: %v", err)
			}
			stored = append(stored, more...)
		}
		if len(data) != 0 {
			fail("%s: %d bytes after its %d entries", path, len(data), w)
		}
	}
	if th, err := tlog.TreeHash(t.size, stored); err != nil || th != t.root {
		fail("the leaves do not give the signed root (%v)", err)
	}
	files := 0
	// The tiles of a tree of this size: at each level the full tiles and at
	// most one partial one (tlog.NewTiles would also list the partial tiles
	// of every size between, which a tlog-tiles log need not serve).
	var tiles []tlog.Tile
	for l := 0; t.size>>(8*l) > 0; l++ {
		n := t.size >> (8 * l)
		for k := int64(0); k < n/256; k++ {
			tiles = append(tiles, tlog.Tile{H: 8, L: l, N: k, W: 256})
		}
		if n%256 != 0 {
			tiles = append(tiles, tlog.Tile{H: 8, L: l, N: n / 256, W: int(n % 256)})
		}
	}
	for _, tile := range tiles {
		want, err := tlog.ReadTileData(tile, stored)
		if err != nil {
			fail("tlog.ReadTileData %v: %v", tile, err)
		}
		if string(readFile(tilePath(dir, tile))) != string(want) {
			fail("%s is not the tile of the signed tree", tilePath(dir, tile))
		}
		files++
	}

	hr := tlog.TileHashReader(tlog.Tree{N: t.size, Hash: t.root}, &dirTiles{dir, map[string][]byte{}})
	proofs := 0
	for i := int64(0); i < t.size; i++ {
		if i%997 != 0 && i != 1 && i != 255 && i != 256 && i != t.size-1 {
			continue
		}
		p, err := tlog.ProveRecord(t.size, i, hr)
		if err != nil {
			fail("tlog.ProveRecord %d: %v", i, err)
		}
		if err := tlog.CheckRecord(p, t.size, t.root, i, stored[tlog.StoredHashIndex(0, i)]); err != nil {
			fail("tlog.CheckRecord %d: %v", i, err)
		}
		proofs++
	}
	msg := fmt.Sprintf("ok: %s size %d: %d tiles and %d entry bundles give the signed root, %d inclusion proofs",
		t.origin, t.size, files, bundles, proofs)
	if old != "" {
		o := readNote(old, verifiers)
		if o.origin != t.origin {
			fail("two origins: %q and %q", o.origin, t.origin)
		}
		p, err := tlog.ProveTree(t.size, o.size, hr)
		if err != nil {
			fail("tlog.ProveTree: %v", err)
		}
		if err := tlog.CheckTree(p, t.size, t.root, o.size, o.root); err != nil {
			fail("tlog.CheckTree: %v", err)
		}
		msg += fmt.Sprintf(", consistent with size %d", o.size)
	}
	fmt.Println(msg)
}

func checkProof(verifiers note.Verifiers, path string) {
	lines := strings.SplitAfter(string(readFile(path)), "\n")
	next := func() string {
		if len(lines) == 0 {
			fail("the proof ends early")
		}
		l := lines[0]
		lines = lines[1:]
		if !strings.HasSuffix(l, "\n") {
			fail("line %q does not end in a newline", l)
		}
		return strings.TrimSuffix(l, "\n")
	}
	if next() != "c2sp.org/tlog-proof@v1" {
		fail("not a c2sp.org/tlog-proof@v1")
	}
	l := next()
	var leaf []byte
	if strings.HasPrefix(l, "extra ") {
		var err error
		if leaf, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "extra ")); err != nil {
			fail("extra: %v", err)
		}
		l = next()
	} else {
		fail("no extra line: the leaf is needed to compute its hash")
	}
	if !strings.HasPrefix(l, "index ") {
		fail("no index line")
	}
	index, err := strconv.ParseInt(strings.TrimPrefix(l, "index "), 10, 64)
	if err != nil || index < 0 || strconv.FormatInt(index, 10) != strings.TrimPrefix(l, "index ") {
		fail("index %q", l)
	}
	var p tlog.RecordProof
	for l = next(); l != ""; l = next() {
		b, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(b) != tlog.HashSize {
			fail("proof line %q", l)
		}
		var h tlog.Hash
		copy(h[:], b)
		p = append(p, h)
	}
	t := open(strings.Join(lines, ""), verifiers)
	if err := tlog.CheckRecord(p, t.size, t.root, index, tlog.RecordHash(leaf)); err != nil {
		fail("tlog.CheckRecord: %v", err)
	}
	fmt.Printf("ok: tlog-proof of record %d in %s size %d\n", index, t.origin, t.size)
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "proof" {
		v, err := note.NewVerifier(os.Args[2])
		if err != nil {
			fail("note.NewVerifier: %v", err)
		}
		checkProof(note.VerifierList(v), os.Args[3])
		return
	}
	if len(os.Args) >= 4 && len(os.Args) <= 5 && os.Args[1] == "tiles" {
		v, err := note.NewVerifier(os.Args[2])
		if err != nil {
			fail("note.NewVerifier: %v", err)
		}
		old := ""
		if len(os.Args) == 5 {
			old = os.Args[4]
		}
		checkTiles(note.VerifierList(v), os.Args[3], old)
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: tlogcheck VERIFIER_KEY RECEIPT_FILE")
		os.Exit(2)
	}
	v, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	verifiers := note.VerifierList(v)
	data, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var r receipt
	if err := json.Unmarshal(data, &r); err != nil {
		fail("json: %v", err)
	}
	switch r.Format {
	case "hcledger-receipt/1":
		t := open(r.Checkpoint, verifiers)
		if t.size != r.TreeSize {
			fail("tree_size %d, checkpoint size %d", r.TreeSize, t.size)
		}
		b, err := hex.DecodeString(r.LeafHash)
		if err != nil || len(b) != tlog.HashSize {
			fail("leaf_hash %q", r.LeafHash)
		}
		var h tlog.Hash
		copy(h[:], b)
		if r.Leaf != nil {
			leaf, err := base64.StdEncoding.DecodeString(*r.Leaf)
			if err != nil {
				fail("leaf: %v", err)
			}
			if tlog.RecordHash(leaf) != h {
				fail("leaf_hash is not the record hash of the leaf")
			}
		}
		if err := tlog.CheckRecord(proof(r.Proof), t.size, t.root, r.LeafIndex, h); err != nil {
			fail("tlog.CheckRecord: %v", err)
		}
		fmt.Printf("ok: record %d in %s size %d\n", r.LeafIndex, t.origin, t.size)
	case "hcledger-consistency/1":
		o := open(r.OldCheckpoint, verifiers)
		n := open(r.NewCheckpoint, verifiers)
		if o.origin != n.origin {
			fail("two origins: %q and %q", o.origin, n.origin)
		}
		if err := tlog.CheckTree(proof(r.Proof), n.size, n.root, o.size, o.root); err != nil {
			fail("tlog.CheckTree: %v", err)
		}
		fmt.Printf("ok: %s size %d extends size %d\n", n.origin, n.size, o.size)
	default:
		fail("unknown format %q", r.Format)
	}
}
