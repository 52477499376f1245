package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/walnutproxy/walnut/plugins/sdk"
	"github.com/walnutproxy/walnut/plugins/shared"
)

// The test binary doubles as the plugins these tests start: run with
// -serve-test-plugin=KIND, it serves that kind instead of testing. That
// gives the tests real plugin processes, including ones that misbehave,
// without building a binary per case.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "-serve-test-plugin=") {
		serveTestPlugin(strings.TrimPrefix(os.Args[1], "-serve-test-plugin="))
		return
	}
	// Plugins built with -race would otherwise linger a second at exit
	// (the race runtime's atexit_sleep_ms) in every test that closes one.
	os.Setenv("GORACE", "atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	os.Exit(m.Run())
}

func serveTestPlugin(kind string) {
	switch kind {
	case "ring":
		sdk.ServeDistribution(ring{})
	case "buckets":
		sdk.ServeDistribution(buckets{})
	case "unsorted":
		sdk.ServeDistribution(unsorted{})
	case "panic":
		sdk.ServeDistribution(panics{})
	case "fnv":
		sdk.ServeHash(fnv1a32{})
	case "slow":
		sdk.ServeHash(slowHash{})
	case "both":
		sdk.Serve(sdk.Plugins{Distribution: ring{}, Hash: fnv1a32{}})
	case "chatty":
		// Before Serve, stdout is the handshake's: print nothing there.
		fmt.Fprintln(os.Stderr, "hello on stderr")
		sdk.ServeDistribution(chatty{})
	case "nothing":
		// A go-plugin plugin, but of another host's services.
		plugin.Serve(&plugin.ServeConfig{HandshakeConfig: shared.Handshake,
			Plugins: plugin.PluginSet{"other": &otherPlugin{}}, GRPCServer: plugin.DefaultGRPCServer})
	default:
		fmt.Fprintf(os.Stderr, "unknown test plugin %q\n", kind)
		os.Exit(2)
	}
}

type otherPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (otherPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (otherPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

// ring gives live server i one point at (i+1) << 28.
type ring struct{}

func (ring) Build(servers []sdk.Server) (sdk.Table, error) {
	var t sdk.Table
	for i, s := range servers {
		if s.Alive {
			t.Continuum = append(t.Continuum, sdk.Point{Hash: uint32(i+1) << 28, Server: int32(i)})
		}
	}
	return t, nil
}

// chatty is ring, talking as it builds.
type chatty struct{}

func (chatty) Build(servers []sdk.Server) (sdk.Table, error) {
	fmt.Println("hello on stdout")
	fmt.Fprintln(os.Stderr, "stderr during a build")
	sdk.Logger().Warn("hello through sdk.Logger", "answer", 42)
	return ring{}.Build(servers)
}

// buckets deals 8 buckets round-robin to the live servers.
type buckets struct{}

func (buckets) Build(servers []sdk.Server) (sdk.Table, error) {
	var live []int32
	for i, s := range servers {
		if s.Alive {
			live = append(live, int32(i))
		}
	}
	if len(live) == 0 {
		return sdk.Table{}, nil
	}
	t := sdk.Table{Buckets: make([]int32, 8)}
	for i := range t.Buckets {
		t.Buckets[i] = live[i%len(live)]
	}
	return t, nil
}

type unsorted struct{}

func (unsorted) Build([]sdk.Server) (sdk.Table, error) {
	return sdk.Table{Continuum: []sdk.Point{{Hash: 2}, {Hash: 1}}}, nil
}

type panics struct{}

func (panics) Build([]sdk.Server) (sdk.Table, error) { panic("boom") }

type fnv1a32 struct{}

func (fnv1a32) Hash(keys [][]byte, out []uint32) error {
	for i, k := range keys {
		out[i] = fnv32(k)
	}
	return nil
}

func fnv32(k []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range k {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// slowHash answers after a second, or fails on the key "fail".
type slowHash struct{}

func (slowHash) Hash(keys [][]byte, out []uint32) error {
	if string(keys[0]) == "fail" {
		return errors.New("asked to fail")
	}
	time.Sleep(time.Second)
	return nil
}
