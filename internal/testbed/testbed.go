//go:build unix

package testbed

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need returns the path of binary, failing the test with an install hint
// when it is missing. A server walnut talks to (redis-server, memcached,
// nutcracker and their tools) makes the test an integration test, which
// go test -short (make unit) leaves out, saying so.
func Need(t testing.TB, binary string) string {
	t.Helper()
	if testing.Short() && serverPackage[binary] != "" {
		t.Skipf("integration test: needs %s (make test runs it)", binary)
	}
	path, err := exec.LookPath(binary)
	if err == nil {
		return path
	}
	// Debian puts nutcracker in /usr/sbin, which a user's PATH may lack.
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		p := filepath.Join(dir, binary)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s is not installed; install it with: %s", binary, installHint(binary))
	return ""
}

// serverPackage is the Debian package of each external server and tool
// the tests use.
var serverPackage = map[string]string{
	"redis-server": "redis-server", "redis-cli": "redis-tools", "redis-benchmark": "redis-tools",
	"redis-sentinel": "redis-sentinel", "memcached": "memcached", "nutcracker": "nutcracker",
	"memcaslap": "libmemcached-tools",
}

func installHint(binary string) string {
	pkg := serverPackage[binary]
	if pkg == "" {
		pkg = binary
	}
	return "sudo apt-get install -y " + pkg + " (or run `bash .ci/run`, which installs everything the tests need)"
}

var portMu sync.Mutex

// Test ports stay below the kernel's ephemeral range (32768 and up by
// default): a server that a test kills and restarts on its port must find
// it free, and an outgoing connection may take any ephemeral port as its
// own while the server is down.
const (
	minTestPort = 20000
	maxTestPort = 32000
)

var lastPort = minTestPort + (os.Getpid()%300)*40

// FreePort returns a loopback TCP port nobody listens on. Ports are
// handed out from a per-process range and checked by binding, so that
// parallel test binaries rarely collide.
func FreePort(t testing.TB) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 2000 {
		lastPort++
		if lastPort > maxTestPort {
			lastPort = minTestPort
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(lastPort))
		if err != nil {
			continue
		}
		ln.Close()
		return lastPort
	}
	t.Fatal("no free loopback port found")
	return 0
}

// Process is a server started for a test.
type Process struct {
	Name string
	Addr string // 127.0.0.1:port
	Port int
	cmd  *exec.Cmd
	args []string
	log  string // file the process writes its output to
	// Config is the configuration file a walnut was started with.
	Config string
	// StatsAddr is nutcracker's stats port.
	StatsAddr string
	t         testing.TB
	mu        sync.Mutex
}

// Kill stops the process with SIGKILL and waits for it.
func (p *Process) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
}

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) { p.signal(sig) }

// Pid returns the process id, or 0 once it is gone.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// WaitExit waits up to d for the process to exit by itself and returns
// its exit code, or -1 if it is still running.
func (p *Process) WaitExit(d time.Duration) int {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		return -1
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
		p.mu.Lock()
		p.cmd = nil
		p.mu.Unlock()
		return cmd.ProcessState.ExitCode()
	case <-time.After(d):
		return -1
	}
}

// Stop freezes the process (SIGSTOP): it keeps its sockets but answers
// nothing, like a hung server.
// It returns once every thread of the process is stopped: the signal
// alone only queues the stop, and a thread that is running may still
// answer a request sent right after.
func (p *Process) Stop() {
	p.signal(syscall.SIGSTOP)
	pid := p.Pid()
	for deadline := time.Now().Add(5 * time.Second); pid > 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if allStopped(pid) {
			return
		}
	}
}

// allStopped reports whether every thread of pid is in the stopped state.
func allStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return true // gone
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue
		}
		// The state follows the command name, which is in parentheses.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i < 0 || i+2 >= len(s) || s[i+2] != 'T' {
			return false
		}
	}
	return true
}

// Continue resumes a stopped process.
func (p *Process) Continue() { p.signal(syscall.SIGCONT) }

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.cmd.Process.Signal(sig)
	}
}

// Restart starts the process again on the same port after Kill.
func (p *Process) Restart() {
	p.t.Helper()
	p.Kill()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start(p.t)
}

// Log returns what the process printed.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

func (p *Process) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(p.args[0], p.args[1:]...)
	// A file rather than a pipe: a child the process leaves behind (an
	// upgraded walnut) would hold a pipe open and make Wait hang.
	out, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	p.cmd = cmd
	if err := WaitListening(p.Addr, 10*time.Second); err != nil {
		t.Fatalf("%s did not start listening on %s: %v\n%s", p.Name, p.Addr, err, p.Log())
	}
}

// Start runs binary with args, which make it listen on 127.0.0.1:port,
// registered for cleanup, and waits until the port accepts connections.
func Start(t testing.TB, name string, port int, binary string, args ...string) *Process {
	t.Helper()
	return StartAt(t, name, "127.0.0.1", port, binary, args...)
}

// StartAt is Start for a process listening on host:port.
func StartAt(t testing.TB, name, host string, port int, binary string, args ...string) *Process {
	t.Helper()
	path := Need(t, binary)
	p := &Process{
		Name: name, Port: port, Addr: net.JoinHostPort(host, strconv.Itoa(port)),
		args: append([]string{path}, args...), log: logFile(t, name), t: t,
	}
	p.start(t)
	t.Cleanup(func() {
		p.Continue()
		p.Kill()
	})
	return p
}

// Redis starts a redis-server on a free port, with persistence off.
func Redis(t testing.TB, extra ...string) *Process {
	t.Helper()
	port := FreePort(t)
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--daemonize", "no", "--dir", t.TempDir(), "--logfile", ""}
	return Start(t, "redis-server:"+strconv.Itoa(port), port, "redis-server", append(args, extra...)...)
}

// Redises starts n redis-servers.
func Redises(t testing.TB, n int) []*Process {
	t.Helper()
	ps := make([]*Process, n)
	for i := range ps {
		ps[i] = Redis(t)
	}
	return ps
}

// Memcached starts a memcached on a free loopback port.
func Memcached(t testing.TB, extra ...string) *Process {
	t.Helper()
	return MemcachedAt(t, "127.0.0.1", FreePort(t), extra...)
}

// MemcachedAt starts a memcached on host:port, which must be free. Other
// loopback addresses (127.0.0.2, ...) let several servers use port 11211,
// whose servers nutcracker names by host alone.
func MemcachedAt(t testing.TB, host string, port int, extra ...string) *Process {
	t.Helper()
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("%s is already taken by another process; stop it (a system memcached, perhaps: service memcached stop)", addr)
	}
	args := []string{"-p", strconv.Itoa(port), "-l", host, "-U", "0", "-t", "2", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	return StartAt(t, "memcached:"+addr, host, port, "memcached", append(args, extra...)...)
}

// Nutcracker runs nutcracker with the YAML configuration conf. listen is
// the port the test put in conf for the first pool; nutcracker is ready
// once it accepts there.
func Nutcracker(t testing.TB, conf string, listen int) *Process {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := FreePort(t)
	// Stats every 100ms instead of nutcracker's 30s, for tests to read.
	p := Start(t, "nutcracker", listen, "nutcracker", "-c", file, "-s", strconv.Itoa(stats), "-a", "127.0.0.1",
		"-i", "100", "-o", filepath.Join(dir, "nutcracker.log"))
	p.StatsAddr = "127.0.0.1:" + strconv.Itoa(stats)
	return p
}

// WaitListening polls addr until it accepts a connection.
func WaitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// WalnutBinary builds cmd/walnut once per test process and returns its
// path.
func WalnutBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "walnut-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "walnut")
		buildErr = goBuild(buildPath, "cmd/walnut", raceEnabled)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Build builds the module's package pkg (e.g. "cmd/walnut",
// "examples/plugins/jump") into the test's temporary directory, with the
// race detector if race, and returns the binary's path.
func Build(t testing.TB, pkg string, race bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if err := goBuild(out, pkg, race); err != nil {
		t.Fatal(err)
	}
	return out
}

func goBuild(out, pkg string, race bool) error {
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/walnutproxy/walnut/"+pkg)...)
	cmd.Dir = moduleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// moduleRoot finds the directory holding go.mod from this source file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Walnut runs the walnut binary with the TOML configuration conf and
// waits until every address in wait accepts connections.
func Walnut(t testing.TB, conf string, wait ...string) *Process {
	return WalnutArgs(t, conf, nil, wait...)
}

// WalnutArgs is Walnut with extra command-line arguments.
func WalnutArgs(t testing.TB, conf string, walnutArgs []string, wait ...string) *Process {
	t.Helper()
	bin := WalnutBinary(t)
	file := filepath.Join(t.TempDir(), "walnut.toml")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Process{Name: "walnut", args: append([]string{bin, "-c", file}, walnutArgs...), log: logFile(t, "walnut"), t: t,
		Config: file}
	if len(wait) > 0 {
		p.Addr = wait[0]
		p.Port, _ = strconv.Atoi(wait[0][strings.LastIndexByte(wait[0], ':')+1:])
	}
	p.start(t)
	for _, a := range wait[1:] {
		if err := WaitListening(a, 10*time.Second); err != nil {
			t.Fatalf("walnut not listening on %s: %v\n%s", a, err, p.Log())
		}
	}
	t.Cleanup(p.Kill)
	return p
}

// Lines splits s into lines, for reading process logs in assertions.
func Lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

func logFile(t testing.TB, name string) string {
	return filepath.Join(t.TempDir(), strings.NewReplacer(":", "_", "/", "_").Replace(name)+".log")
}

// WalnutNutcracker runs the walnut binary the way twemproxy's test suite
// runs nutcracker: from the YAML file conf, with nutcracker's flags
// (-c -o -s -a -v -m -i) and the stats port on 127.0.0.1:stats. listen is
// the first pool's port; extra flags (e.g. "-m", "65536") are appended and
// win over the defaults. The log file given to -o is what Log returns.
func WalnutNutcracker(t testing.TB, conf string, listen, stats int, extra ...string) *Process {
	t.Helper()
	bin := WalnutBinary(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "nutcracker.log")
	args := []string{bin, "-c", file, "-o", logPath, "-s", strconv.Itoa(stats), "-a", "127.0.0.1",
		"-v", "5", "-m", "512", "-i", "1"}
	p := &Process{Name: "walnut", Port: listen, Addr: "127.0.0.1:" + strconv.Itoa(listen),
		args: append(args, extra...), log: logPath, t: t, Config: file,
		StatsAddr: "127.0.0.1:" + strconv.Itoa(stats)}
	p.start(t)
	t.Cleanup(p.Kill)
	return p
}
