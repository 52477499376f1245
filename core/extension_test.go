//go:build linux

package core

import (
	"errors"
	"sync/atomic"
	"testing"
)

// testHasher is an external hash function as a plugin would be: it
// hashes batches, and can be made to fail.
type testHasher struct {
	fail    atomic.Bool
	batches atomic.Int64
}

func (h *testHasher) HashBatch(keys [][]byte, out []uint32) error {
	h.batches.Add(1)
	if h.fail.Load() {
		return errors.New("plugin down")
	}
	for i, k := range keys {
		out[i] = testKeyHash(k)
	}
	return nil
}

// With an external hash function, a round waits for its keys to be
// hashed in a batch; requests without keys go as usual, and a failing
// hasher fails the requests that needed it.
func TestExternalHasher(t *testing.T) {
	srv := newServers(t, 3)
	h := &testHasher{}
	r := startRig(t, srv, parseConf(t, poolConf("p", srv, `hash = "ext"`), "[plugins.ext]\npath = \"/bin/true\"\n"),
		WithHasher("ext", h))
	c := r.dial()
	c.send("ECHO 2:a A", "MGET 0:x 1:y 2:z", "PING", "COUNT", "WHO 1", "ECHO 1:b B")
	c.expect("VAL A", "VALS - - -", "PONG", "INT 0", "AT 1 s1", "VAL B")
	if n := srv[2].Count("ECHO"); n != 1 {
		t.Errorf("s2 read %d ECHOs, want the one its key hashed to", n)
	}
	if h.batches.Load() == 0 {
		t.Error("the hasher was never called")
	}
	// Rounds without keys do not wait for it.
	before := h.batches.Load()
	c.send("PING", "COUNT")
	c.expect("PONG", "INT 0")
	if h.batches.Load() != before {
		t.Error("a round without keys was hashed")
	}
	h.fail.Store(true)
	c.send("ECHO 0:a A", "PING", "MGET 0:x 1:y")
	c.expect("ERR hash plugin: plugin down", "PONG", "ERR hash plugin: plugin down")
	h.fail.Store(false)
	c.send("ECHO 0:a A")
	c.expect("VAL A")
	r.settled()
}
