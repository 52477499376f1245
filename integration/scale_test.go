package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/internal/testbed"
)

// rss returns the resident memory of process pid in bytes.
func rss(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestIdleClientMemory opens 10,000 client connections to a walnut
// binary, makes each send a request and read its reply (so that every
// buffer a request needs was used), leaves them idle, and checks that
// walnut's resident memory grew by at most 16 KiB per client: buffers are
// taken from a loop's pool for a request and given back once it is
// answered. The binary is built without the race detector, whose shadow
// memory would be counted too.
func TestIdleClientMemory(t *testing.T) {
	const clients = 10000
	srv := testbed.Redis(t)
	bin := testbed.Build(t, "cmd/walnut", false)
	port := testbed.FreePort(t)
	conf := filepath.Join(t.TempDir(), "walnut.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("[pools.a]\nlisten = \"127.0.0.1:%d\"\nprotocol = \"redis\"\nservers = [\"%s:1\"]\n", port, srv.Addr)), 0o644)
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := testbed.WaitListening(addr, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Warm up: one client's round trip, so that what every process has
	// (the loop's first buffers, the server connection) is in the base.
	c0, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	get := "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"
	c0.Write([]byte(get))
	bufio.NewReader(c0).ReadString('\n')
	time.Sleep(200 * time.Millisecond)
	before := rss(t, cmd.Process.Pid)

	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 64)
	for i := range clients {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(get)); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "$-1\r\n" {
			t.Fatalf("client %d: read %q, %v", i, buf[:n], err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	after := rss(t, cmd.Process.Pid)
	per := float64(after-before) / clients
	t.Logf("%d idle clients: RSS %.1f MiB -> %.1f MiB, %.0f bytes per client", clients,
		float64(before)/(1<<20), float64(after)/(1<<20), per)
	if per > 16<<10 {
		t.Fatalf("%.0f bytes per idle client, want at most 16 KiB", per)
	}
}
