//go:build linux

package core

import (
	"testing"
)

// The statistics count what went through: requests by family, with
// latencies when they are recorded, per-server requests and responses,
// connections, and whether the pools can serve.
func TestSnapshot(t *testing.T) {
	r := newRig(t, 1, "")
	r.px.SetVersion("v-test")
	r.px.RecordLatency(true)
	c := r.dial()
	c.send("ECHO 0:a A", "GET 0:a", "PING", "ECHO 0:b B")
	c.expect("VAL A", "NIL", "PONG", "VAL B")
	s := r.px.Snapshot()
	if s.Version != "v-test" || !s.Latency || len(s.Pools) != 1 {
		t.Fatalf("snapshot: version %q, latency %v, %d pools", s.Version, s.Latency, len(s.Pools))
	}
	if s.CurrConnections < 2 || s.TotalConnections < 2 {
		t.Errorf("connections: %d now, %d ever; want the client and a server connection", s.CurrConnections, s.TotalConnections)
	}
	fams := map[string]FamilySnapshot{}
	for _, f := range s.Pools[0].Families {
		fams[f.Name] = f
	}
	if fams["echo"].Requests != 2 || fams["get"].Requests != 1 || fams["ping"].Requests != 1 || len(fams) != 3 {
		t.Errorf("families: %+v", s.Pools[0].Families)
	}
	if fams["echo"].Latency.Count() != 2 {
		t.Errorf("echo latencies: %d", fams["echo"].Latency.Count())
	}
	sv := s.Pools[0].Servers[0]
	if sv.Requests != 3 || sv.Responses != 3 || sv.Latency.Count() != 3 || sv.RequestBytes == 0 || sv.ResponseBytes == 0 {
		t.Errorf("server: %+v", sv)
	}
	if !s.Ready() {
		t.Error("not ready with its server up")
	}
	r.stop(0)
	c.send("ECHO 0:a A")
	c.expectPrefix(r.serverErr("Connection refused", 0))
	if s := r.px.Snapshot(); s.Ready() {
		t.Error("ready with its only server down")
	}
}
