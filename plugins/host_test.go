package plugins

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
)

// syncBuffer collects a logger's output from go-plugin's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testPlugin configures the test binary as the plugin kind, named name.
func testPlugin(t testing.TB, name, kind string) config.Plugin {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return config.Plugin{Name: name, Path: exe, Args: []string{"-serve-test-plugin=" + kind}}
}

func startHost(t *testing.T, cfgs ...config.Plugin) (*Host, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h, err := Start(cfgs, log)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		h.Close()
		if t.Failed() {
			t.Logf("host log:\n%s", logs.String())
		}
	})
	return h, &logs
}

func dservers(alive ...bool) []distributions.Server {
	s := make([]distributions.Server, len(alive))
	for i, a := range alive {
		s[i] = distributions.Server{Name: string(rune('a' + i)), Weight: 1, Alive: a}
	}
	return s
}

func TestDistributionPluginBuildsInProcessTables(t *testing.T) {
	h, _ := startHost(t, testPlugin(t, "ring", "ring"), testPlugin(t, "buckets", "buckets"))
	d, ok := h.Distribution("ring")
	if !ok {
		t.Fatal("ring serves no distribution")
	}
	if _, ok := h.Hasher("ring"); ok {
		t.Fatal("ring claims to serve a hash")
	}
	tab, err := d.Build(dservers(true, false, true))
	if err != nil {
		t.Fatal(err)
	}
	// Points at 1<<28 (server 0) and 3<<28 (server 2).
	for h, want := range map[uint32]int{0: 0, 1 << 28: 0, 1<<28 + 1: 2, 3 << 28: 2, 3<<28 + 1: 0} {
		if got := tab.Pick(h); got != want {
			t.Errorf("ring Pick(%#x) = %d, want %d", h, got, want)
		}
	}
	if _, ok := tab.(*continuumTable); !ok {
		t.Errorf("ring's table is a %T", tab)
	}

	d, _ = h.Distribution("buckets")
	tab, err = d.Build(dservers(false, true, true))
	if err != nil {
		t.Fatal(err)
	}
	// 8 buckets dealt to servers 1 and 2: bucket i is hash>>29.
	for b := range uint32(8) {
		if got, want := tab.Pick(b<<29|12345), []int{1, 2}[b%2]; got != want {
			t.Errorf("buckets Pick(bucket %d) = %d, want %d", b, got, want)
		}
	}
	tab, err = d.Build(dservers(false, false))
	if err != nil || tab.Pick(7) != -1 {
		t.Fatalf("no live server: %v, Pick = %d; want an empty table", err, tab.Pick(7))
	}
}

func TestHashPlugin(t *testing.T) {
	h, _ := startHost(t, testPlugin(t, "fnv", "fnv"))
	if _, ok := h.Distribution("fnv"); ok {
		t.Fatal("fnv claims to serve a distribution")
	}
	hs, ok := h.Hasher("fnv")
	if !ok {
		t.Fatal("fnv serves no hash")
	}
	keys := [][]byte{[]byte("a"), []byte("foo"), []byte("user:{42}")}
	out := make([]uint32, len(keys))
	if err := hs.HashBatch(keys, out); err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if out[i] != fnv32(k) {
			t.Errorf("hash(%q) = %#x, want %#x", k, out[i], fnv32(k))
		}
	}
	if got := h.Serves("fnv"); len(got) != 1 || got[0] != "hash" {
		t.Errorf("Serves = %v", got)
	}
}

func TestPluginServingBoth(t *testing.T) {
	h, _ := startHost(t, testPlugin(t, "both", "both"))
	_, d := h.Distribution("both")
	_, hs := h.Hasher("both")
	if !d || !hs {
		t.Fatalf("distribution %v, hash %v; want both", d, hs)
	}
}

func TestPluginErrorsNameThePlugin(t *testing.T) {
	h, _ := startHost(t, testPlugin(t, "unsorted", "unsorted"), testPlugin(t, "panics", "panic"))
	d, _ := h.Distribution("unsorted")
	_, err := d.Build(dservers(true))
	if err == nil || !strings.Contains(err.Error(), "plugin unsorted") || !strings.Contains(err.Error(), "points must be sorted") {
		t.Errorf("unsorted: got %v", err)
	}
	d, _ = h.Distribution("panics")
	_, err = d.Build(dservers(true))
	if err == nil || !strings.Contains(err.Error(), "plugin panics") || !strings.Contains(err.Error(), "panicked: boom") {
		t.Errorf("panic: got %v", err)
	}
	// The panic was the call's, not the process's.
	if _, err := d.Build(dservers(true)); err == nil || h.Pid("panics") == 0 {
		t.Errorf("after a panic: %v, pid %d", err, h.Pid("panics"))
	}
}

func TestHashBatchTimesOut(t *testing.T) {
	defer func(d time.Duration) { HashTimeout = d }(HashTimeout)
	HashTimeout = 100 * time.Millisecond
	h, _ := startHost(t, testPlugin(t, "slow", "slow"))
	hs, _ := h.Hasher("slow")
	start := time.Now()
	err := hs.HashBatch([][]byte{[]byte("k")}, make([]uint32, 1))
	if err == nil || !strings.Contains(err.Error(), "DeadlineExceeded") || time.Since(start) > 900*time.Millisecond {
		t.Errorf("got %v after %v; want a deadline error after about 100ms", err, time.Since(start))
	}
	err = hs.HashBatch([][]byte{[]byte("fail")}, make([]uint32, 1))
	if err == nil || !strings.Contains(err.Error(), "plugin slow: ") || !strings.Contains(err.Error(), "asked to fail") {
		t.Errorf("got %v; want the plugin's error", err)
	}
}

func TestStartFailuresNameThePlugin(t *testing.T) {
	defer func(d time.Duration) { StartTimeout = d }(StartTimeout)
	StartTimeout = time.Second
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-exec")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	garbage := filepath.Join(dir, "garbage")
	os.WriteFile(garbage, []byte("#!/bin/sh\necho hello there\nexec sleep 5\n"), 0o755)
	silent := filepath.Join(dir, "silent")
	os.WriteFile(silent, []byte("#!/bin/sh\nexec sleep 5\n"), 0o755)
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"not-exec", notExec, "is not an executable file"},
		{"true", "/bin/true", "handshake failed"},
		{"garbage", garbage, "handshake failed"},
		{"silent", silent, "handshake failed"},
		{"nothing", "", "serves neither a distribution nor a hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := config.Plugin{Name: tc.name, Path: tc.path}
			if tc.path == "" {
				bad = testPlugin(t, tc.name, tc.name)
			}
			h, err := Start([]config.Plugin{testPlugin(t, "good", "ring"), bad}, slog.New(slog.DiscardHandler))
			if err == nil {
				h.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.HasPrefix(err.Error(), "plugin "+tc.name+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q; want it to start with %q and mention %q", err, "plugin "+tc.name+": ", tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error: %q", err)
			}
		})
	}
}

func TestOnlyWhatIsServedIsOffered(t *testing.T) {
	h, _ := startHost(t, testPlugin(t, "fnv", "fnv"))
	if _, ok := h.Distribution("fnv"); ok {
		t.Fatal("a hash plugin passes for a distribution")
	}
	if _, ok := h.Distribution("nonesuch"); ok {
		t.Fatal("an unknown plugin passes for a distribution")
	}
}

func TestCrashedPluginIsRestarted(t *testing.T) {
	defer func(d time.Duration) { minBackoff = d }(minBackoff)
	minBackoff = 10 * time.Millisecond
	h, logs := startHost(t, testPlugin(t, "ring", "ring"), testPlugin(t, "fnv", "fnv"))
	restarted := make(chan string, 4)
	h.OnRestart(func(name string) { restarted <- name })
	d, _ := h.Distribution("ring")
	hs, _ := h.Hasher("fnv")

	for _, name := range []string{"ring", "fnv"} {
		old := h.Pid(name)
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-restarted:
			if got != name {
				t.Fatalf("restarted %s, want %s", got, name)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not restarted", name)
		}
		if pid := h.Pid(name); pid == 0 || pid == old {
			t.Fatalf("%s: pid %d after a restart, was %d", name, pid, old)
		}
	}
	if _, err := d.Build(dservers(true)); err != nil {
		t.Errorf("build after the restart: %v", err)
	}
	if err := hs.HashBatch([][]byte{[]byte("k")}, make([]uint32, 1)); err != nil {
		t.Errorf("hash after the restart: %v", err)
	}
	for _, want := range []string{`msg="plugin exited; restarting it" plugin=ring`, `msg="plugin restarted" plugin=fnv`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestCallsFailWhileThePluginIsDown(t *testing.T) {
	defer func(d time.Duration) { minBackoff = d }(minBackoff)
	minBackoff = time.Hour // never comes back within the test
	h, _ := startHost(t, testPlugin(t, "fnv", "fnv"))
	hs, _ := h.Hasher("fnv")
	syscall.Kill(h.Pid("fnv"), syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for h.Pid("fnv") != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	err := hs.HashBatch([][]byte{[]byte("k")}, make([]uint32, 1))
	if err == nil || !strings.Contains(err.Error(), "plugin fnv is not running") {
		t.Fatalf("got %v", err)
	}
}

func TestCloseEndsThePlugins(t *testing.T) {
	h, _ := startHost(t, testPlugin(t, "ring", "ring"))
	pid := h.Pid("ring")
	h.Close()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d still running after Close", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h.Pid("ring") != 0 {
		t.Error("Pid after Close")
	}
}

func TestPluginOutputLandsInTheLog(t *testing.T) {
	h, logs := startHost(t, testPlugin(t, "chatty", "chatty"))
	d, _ := h.Distribution("chatty")
	if _, err := d.Build(dservers(true)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`level=INFO msg="hello on stderr" plugin=chatty stream=stderr`,
		`level=INFO msg="stderr during a build" plugin=chatty stream=stderr`,
		`level=INFO msg="hello on stdout" plugin=chatty stream=stdout`,
		`level=WARN msg="hello through sdk.Logger" plugin=chatty answer=42`,
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		missing := ""
		for _, w := range want {
			if !strings.Contains(logs.String(), w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log lacks %q:\n%s", missing, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
