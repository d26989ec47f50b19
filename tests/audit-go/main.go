// An outside auditor's check of a llave audit log, written only against Go's own
// golang.org/x/mod/sumdb/note and sumdb/tlog (Debian: golang-golang-x-mod-dev), nothing of
// llave's: it verifies the hub's signed checkpoint, recomputes the tree hash from the
// published tiles, checks an inclusion proof (a C2SP tlog-proof from `llave audit prove`
// or /audit/proof/{event}) and a consistency proof from an earlier checkpoint.
//
//	audit-go -url http://hub -key KEYFILE [-proof FILE.tlog-proof] [-old CHECKPOINT_FILE]
//
// Build offline: GO111MODULE=off GOPATH=/usr/share/gocode go build -o audit-go main.go
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "audit-go: "+format+"\n", args...)
	os.Exit(1)
}

func fetch(url string) []byte {
	resp, err := http.Get(url)
	if err != nil {
		fail("fetch %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		fail("fetch %s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		fail("fetch %s: %v", url, err)
	}
	return data
}

// checkpoint opens a signed C2SP checkpoint with the log's key: origin, size, root hash.
func checkpoint(msg []byte, verifiers note.Verifiers) (string, tlog.Tree) {
	n, err := note.Open(msg, verifiers)
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("malformed checkpoint")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("malformed checkpoint size: %v", err)
	}
	hash, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("malformed checkpoint root: %v", err)
	}
	return lines[0], tlog.Tree{N: size, Hash: hash}
}

// tiles reads C2SP tiles: Go's paths are tile/H/L/N, C2SP's drop the height (always 8).
type tiles struct{ base string }

func (t tiles) Height() int { return 8 }
func (t tiles) ReadTiles(list []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(list))
	for i, tile := range list {
		path := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
		out[i] = fetch(t.base + "/audit/" + path)
	}
	return out, nil
}
func (t tiles) SaveTiles([]tlog.Tile, [][]byte) {}

func main() {
	url := flag.String("url", "", "the hub's base URL")
	keyFile := flag.String("key", "", "file with the log's verifier key")
	proofFile := flag.String("proof", "", "a tlog-proof of one event")
	oldFile := flag.String("old", "", "an earlier signed checkpoint")
	flag.Parse()
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		fail("%v", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(key)))
	if err != nil {
		fail("verifier key: %v", err)
	}
	verifiers := note.VerifierList(verifier)
	base := strings.TrimRight(*url, "/")

	origin, tree := checkpoint(fetch(base+"/audit/checkpoint"), verifiers)
	if origin != verifier.Name() {
		fail("checkpoint origin %q is not the key's name %q", origin, verifier.Name())
	}
	reader := tlog.TileHashReader(tree, tiles{base})
	root, err := tlog.TreeHash(tree.N, reader)
	if err != nil || root != tree.Hash {
		fail("the tiles do not hash to the checkpoint's root: %v", err)
	}
	fmt.Printf("checkpoint: %s, %d entries, signature and tiles verified\n", origin, tree.N)

	if *proofFile != "" {
		text, err := os.ReadFile(*proofFile)
		if err != nil {
			fail("%v", err)
		}
		scanner := bufio.NewScanner(bytes.NewReader(text))
		var entry []byte
		var index int64 = -1
		var proof tlog.RecordProof
		line := 0
		for scanner.Scan() {
			l := scanner.Text()
			line++
			switch {
			case line == 1:
				if l != "c2sp.org/tlog-proof@v1" {
					fail("not a tlog-proof")
				}
			case strings.HasPrefix(l, "extra "):
				entry, err = base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "extra "))
			case strings.HasPrefix(l, "index "):
				index, err = strconv.ParseInt(strings.TrimPrefix(l, "index "), 10, 64)
			case l == "":
				goto done
			default:
				var h tlog.Hash
				h, err = tlog.ParseHash(l)
				proof = append(proof, h)
			}
			if err != nil {
				fail("malformed proof: %v", err)
			}
		}
	done:
		rest := text[bytes.Index(text, []byte("\n\n"))+2:]
		_, proved := checkpoint(rest, verifiers)
		leaf := tlog.RecordHash(entry)
		if err := tlog.CheckRecord(proof, proved.N, proved.Hash, index, leaf); err != nil {
			fail("inclusion proof of index %d: %v", index, err)
		}
		fmt.Printf("inclusion: entry %d is in the tree of %d entries\n", index, proved.N)
		// The proof's checkpoint must be one of this log's trees: consistent with today's.
		if proved.N <= tree.N {
			p, err := tlog.ProveTree(tree.N, proved.N, reader)
			if err != nil {
				fail("consistency proof: %v", err)
			}
			if err := tlog.CheckTree(p, tree.N, tree.Hash, proved.N, proved.Hash); err != nil {
				fail("the proof's checkpoint is not in today's log: %v", err)
			}
		}
	}

	if *oldFile != "" {
		text, err := os.ReadFile(*oldFile)
		if err != nil {
			fail("%v", err)
		}
		_, old := checkpoint(text, verifiers)
		if old.N > tree.N {
			fail("the log shrank from %d to %d entries", old.N, tree.N)
		}
		p, err := tlog.ProveTree(tree.N, old.N, reader)
		if err != nil {
			fail("consistency proof: %v", err)
		}
		if err := tlog.CheckTree(p, tree.N, tree.Hash, old.N, old.Hash); err != nil {
			fail("the log forked: %v", err)
		}
		fmt.Printf("consistency: the tree of %d entries is a prefix of the tree of %d\n", old.N, tree.N)
	}
}
