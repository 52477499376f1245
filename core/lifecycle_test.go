//go:build linux

package core

import "testing"

// A pool a reload removes is drained on a goroutine of its own, which
// must not race a Close that comes meanwhile (go test -race): it reads
// the loops that Close clears.
func TestCloseWhileRemovedPoolDrains(t *testing.T) {
	srv := newServers(t, 1)
	r := startRig(t, srv, parseConf(t, poolConf("p", srv, ""), poolConf("q", srv, "")))
	q := r.px.Pool("q")
	qc := dialPool(t, q.Addr().String())
	qc.do("PING")
	if err := r.px.Reload(parseConf(t, poolConf("p", srv, ""))); err != nil {
		t.Fatal(err)
	}
	// The removed pool's client is closed by the drain, not by Close,
	// so that nothing orders Close before what the goroutine does next.
	waitFor(t, "the removed pool's client to close", func() bool { return q.clients.Load() == 0 })
	r.px.Close()
	b := q.backends[0]
	waitFor(t, "the removed pool's servers to be retired", func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return b.retired
	})
}
