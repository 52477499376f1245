package shared

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
)

type recorder struct {
	calls int
	table Table
	err   error
	panic bool
}

func (r *recorder) Build(servers []Server) (Table, error) {
	r.calls++
	if r.panic {
		panic("boom")
	}
	return r.table, r.err
}

func (r *recorder) Hash(keys [][]byte, out []uint32) error {
	r.calls++
	for i, k := range keys {
		out[i] = uint32(len(k))
	}
	return r.err
}

// dispense connects the shims in process, over a real gRPC connection.
func dispense(t *testing.T, ps plugin.PluginSet, kind string) any {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, ps)
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(kind)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestDistributionRoundTrip(t *testing.T) {
	impl := &recorder{}
	d := dispense(t, plugin.PluginSet{DistributionPlugin: &DistributionGRPCPlugin{Impl: impl}}, DistributionPlugin).(*DistributionClient)
	ctx := context.Background()

	if ok, err := d.Probe(ctx); !ok || err != nil || impl.calls != 0 {
		t.Fatalf("probe: %v, %v, %d calls; want true, no error, the plugin's code not called", ok, err, impl.calls)
	}
	servers := []Server{{Name: "a", Addr: "127.0.0.1:1", Weight: 2, Alive: true}, {Name: "b", Weight: 1}}
	for _, want := range []Table{
		{Continuum: []Point{{Hash: 1, Server: 0}, {Hash: 9, Server: -1}}},
		{Buckets: []int32{0, 0, -1, 0}},
		{},
	} {
		impl.table = want
		got, err := d.Build(ctx, servers)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Continuum) != len(want.Continuum) || len(got.Buckets) != len(want.Buckets) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		for i := range want.Continuum {
			if got.Continuum[i] != want.Continuum[i] {
				t.Fatalf("point %d: got %+v, want %+v", i, got.Continuum[i], want.Continuum[i])
			}
		}
		for i := range want.Buckets {
			if got.Buckets[i] != want.Buckets[i] {
				t.Fatalf("bucket %d: got %d, want %d", i, got.Buckets[i], want.Buckets[i])
			}
		}
	}

	impl.table = Table{Buckets: []int32{1}} // b is dead
	if _, err := d.Build(ctx, servers); err == nil || !strings.Contains(err.Error(), `the plugin built a bad table: bucket 0: server 1 ("b") is not alive`) {
		t.Errorf("bad table: %v", err)
	}
	impl.err = errors.New("no can do")
	if _, err := d.Build(ctx, servers); err == nil || !strings.Contains(err.Error(), "no can do") {
		t.Errorf("plugin error: %v", err)
	}
	impl.panic = true
	if _, err := d.Build(ctx, servers); err == nil || !strings.Contains(err.Error(), "the plugin panicked: boom") {
		t.Errorf("panic: %v", err)
	}
}

func TestHashRoundTrip(t *testing.T) {
	impl := &recorder{}
	h := dispense(t, plugin.PluginSet{HashPlugin: &HashGRPCPlugin{Impl: impl}}, HashPlugin).(*HashClient)
	ctx := context.Background()
	if ok, err := h.Probe(ctx); !ok || err != nil || impl.calls != 0 {
		t.Fatalf("probe: %v, %v, %d calls", ok, err, impl.calls)
	}
	out := make([]uint32, 3)
	if err := h.Hash(ctx, [][]byte{[]byte("a"), []byte("bcd"), {}}, out); err != nil {
		t.Fatal(err)
	}
	if out[0] != 1 || out[1] != 3 || out[2] != 0 {
		t.Errorf("hashes %v", out)
	}
}

func TestProbeOfAnUnservedKind(t *testing.T) {
	// The plugin serves only a hash; the host asks about a distribution
	// over the same connection, as it does at start.
	client, _ := plugin.TestPluginGRPCConn(t, false, plugin.PluginSet{HashPlugin: &HashGRPCPlugin{Impl: &recorder{}}})
	t.Cleanup(func() { client.Close() })
	d := (&DistributionGRPCPlugin{}).mustClient(t, client)
	if ok, err := d.Probe(context.Background()); ok || err != nil {
		t.Fatalf("probe of an unserved service: %v, %v; want false, no error", ok, err)
	}
}

func (p *DistributionGRPCPlugin) mustClient(t *testing.T, c *plugin.GRPCClient) *DistributionClient {
	t.Helper()
	raw, err := p.GRPCClient(context.Background(), nil, c.Conn)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*DistributionClient)
}

func TestBucketShift(t *testing.T) {
	for b := 0; b <= MaxBucketsLog2; b++ {
		if got := BucketShift(1 << b); got != uint(32-b) {
			t.Errorf("BucketShift(2^%d) = %d, want %d", b, got, 32-b)
		}
	}
}
