package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/internal/testbed"
)

// nutcracker's command line, daemon mode, pid file, log file and signals,
// run against the walnut binary the way init scripts and twemproxy's
// test suite run nutcracker.

// runBin runs bin with args in dir and returns its stdout, stderr and
// exit status, within a bounded time.
func runBin(t *testing.T, dir, bin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return out.String(), errOut.String(), 0
}

// ncConf is a nutcracker YAML file: one Redis pool on listen over
// servers.
func ncConf(listen int, servers ...*testbed.Process) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nntest:\n  listen: 127.0.0.1:%d\n  hash: fnv1a_64\n  distribution: modula\n  redis: true\n  timeout: 400\n  servers:\n", listen)
	for _, s := range servers {
		fmt.Fprintf(&b, "    - %s:1 %s\n", s.Addr, strings.ReplaceAll(s.Name, ":", "-"))
	}
	return b.String()
}

// ncDir writes nutcracker.yml into a new directory: ncConf on a free
// port over a new redis-server. It returns the directory, the port and
// the file's path.
func ncDir(t *testing.T) (dir string, port int, conf string) {
	t.Helper()
	redis := testbed.Redis(t) // first, so that its port is taken
	dir, port = t.TempDir(), testbed.FreePort(t)
	return dir, port, writeFile(t, filepath.Join(dir, "nutcracker.yml"), ncConf(port, redis))
}

func writeFile(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// procStat is what /proc/PID/stat says of a process.
type procStat struct {
	state                byte
	ppid, pgrp, sid, tty int
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	var s procStat
	s.state = f[0][0]
	s.ppid, _ = strconv.Atoi(f[1])
	s.pgrp, _ = strconv.Atoi(f[2])
	s.sid, _ = strconv.Atoi(f[3])
	s.tty, _ = strconv.Atoi(f[4])
	return s, nil
}

// gone reports whether pid has exited (a zombie nobody reaped yet has).
func gone(pid int) bool {
	s, err := readProcStat(pid)
	return err != nil || s.state == 'Z' || s.state == 'X'
}

// readPid reads a pid file.
func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// killAtEnd makes sure a daemon the test started does not outlive it.
func killAtEnd(t *testing.T, pid int) {
	t.Cleanup(func() {
		if !gone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

func ping(t *testing.T, addr string) {
	t.Helper()
	c := dialRaw(t, addr)
	c.send(t, "PING\r\n")
	if got := c.line(t); got != "+PONG\r\n" {
		t.Fatalf("PING on %s: %q", addr, got)
	}
}

// -V, -h and -D print what nutcracker prints, to stderr, and exit 0;
// the stats description is nutcracker's, byte for byte.
func TestNutcrackerCLIVersionHelpDescribe(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	nc := testbed.Need(t, "nutcracker")
	dir := t.TempDir()
	out, errOut, code := runBin(t, dir, bin, "-V")
	if code != 0 || out != "" || !regexp.MustCompile(`^This is walnut-\S+\nasync event backend: epoll\n\n$`).MatchString(errOut) {
		t.Fatalf("-V: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	version := errOut
	if out, errOut, code := runBin(t, dir, bin, "--version"); code != 0 || !strings.HasPrefix(out, "walnut ") || errOut != "" {
		t.Fatalf("--version: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runBin(t, dir, bin, "-h")
	if code != 0 || out != "" || !strings.HasPrefix(errOut, version+"Usage: walnut [-hVdDt]") {
		t.Fatalf("-h: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, opt := range []string{"-h, --help", "-V, --version", "-t, --test-conf", "-d, --daemonize", "-D, --describe-stats",
		"-v, --verbose=N", "-o, --output=S", "-c, --conf-file=S", "-s, --stats-port=N", "-a, --stats-addr=S",
		"-i, --stats-interval=N", "-p, --pid-file=S", "-m, --mbuf-size=N", "--log-level", "--log-format", "--cpuprofile", "convert"} {
		if !strings.Contains(errOut, opt) {
			t.Errorf("-h does not describe %s:\n%s", opt, errOut)
		}
	}
	_, want, _ := runBin(t, dir, nc, "-D")
	_, got, code := runBin(t, dir, bin, "-D")
	want = strings.SplitN(want, "\n", 2)[1]
	if code != 0 || !strings.HasPrefix(got, version) || got[len(version):] != want[strings.Index(want, "\n\n")+2:] {
		t.Fatalf("-D: exit %d\n%q\nnutcracker's:\n%q", code, got, want)
	}
	// -V wins over -t, as in nutcracker.
	if _, errOut, code := runBin(t, dir, bin, "-t", "-V", "-c", "/nonexistent.yml"); code != 0 || errOut != version {
		t.Fatalf("-t -V: exit %d, %q", code, errOut)
	}
}

// An option error is one line, nutcracker's text, then the usage, and
// exit 1.
func TestNutcrackerCLIOptionErrors(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	nc := testbed.Need(t, "nutcracker")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"-x"}, {"-?"}, {"-v"}, {"-v", "abc"}, {"-v", "-1"}, {"--verbose"}, {"-s"}, {"-s", "abc"}, {"-s", "65535x"},
		{"-s", "0"}, {"-s", "70000"}, {"-i", "abc"}, {"-i", "-5"}, {"-m", "0"}, {"-m", "abc"}, {"-m", "100"},
		{"-m", "511"}, {"-m", "16777217"}, {"-m", "20000000"}, {"-o"}, {"-c"}, {"-p"}, {"--conf-file"}, {"-a"},
	} {
		_, ncOut, ncCode := runBin(t, dir, nc, args...)
		out, errOut, code := runBin(t, dir, bin, args...)
		first, rest, _ := strings.Cut(errOut, "\n")
		want := strings.Replace(strings.SplitN(ncOut, "\n", 2)[0], "nutcracker:", "walnut:", 1)
		if code != 1 || ncCode != 1 || out != "" || first != want || !strings.HasPrefix(rest, "Usage: walnut") {
			t.Errorf("%q: exit %d (nutcracker %d), first line %q, want %q", args, code, ncCode, first, want)
		}
	}
}

// -t: "syntax is ok" on stderr, or the reasons and then "syntax is
// invalid", exit 1.
func TestNutcrackerCLITestConf(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	dir := t.TempDir()
	example := "/usr/share/doc/nutcracker/examples/nutcracker.yml"
	if _, err := os.Stat(example); err != nil {
		example = writeFile(t, filepath.Join(dir, "nutcracker.yml"), ncConf(22121, &testbed.Process{Addr: "127.0.0.1:6379", Name: "r"}))
	}
	out, errOut, code := runBin(t, dir, bin, "-t", "-c", example)
	if code != 0 || out != "" || errOut != "walnut: configuration file '"+example+"' syntax is ok\n" {
		t.Fatalf("-t %s: exit %d, stdout %q, stderr %q", example, code, out, errOut)
	}
	writeFile(t, filepath.Join(dir, "bad.yml"), "ntest:\n  listen: 127.0.0.1:22121\n  redis: yes\n  servers:\n   - 127.0.0.1:6379:1\n")
	out, errOut, code = runBin(t, dir, bin, "--test-conf", "--conf-file=bad.yml")
	if code != 1 || out != "" || !strings.Contains(errOut, `bad.yml:3: pools.ntest.redis: is not "true" or "false"`) ||
		!strings.HasSuffix(errOut, "\nwalnut: configuration file 'bad.yml' syntax is invalid\n") {
		t.Fatalf("-t bad.yml: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runBin(t, dir, bin, "-tc", "missing.yml")
	if code != 1 || !strings.Contains(errOut, "missing.yml: open missing.yml: no such file or directory\n") ||
		!strings.HasSuffix(errOut, "walnut: configuration file 'missing.yml' syntax is invalid\n") {
		t.Fatalf("-t missing.yml: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// -d with twemproxy's test-suite command line: the foreground process
// returns once the daemon serves; the daemon is detached (its parent
// gone, a session of its own, no terminal, /dev/null for stdio, the
// working directory kept) and writes its pid; SIGTERM stops it and
// removes the pid file.
func TestNutcrackerCLIDaemon(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	dir, port, _ := ncDir(t)
	stats := testbed.FreePort(t)
	start := time.Now()
	out, errOut, code := runBin(t, dir, bin, "-d", "-c", "nutcracker.yml", "-o", "nutcracker.log", "-p", "nutcracker.pid",
		"-s", itoa(stats), "-a", "127.0.0.1", "-v", "5", "-m", "512", "-i", "1")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("-d: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Logf("the foreground process returned after %v", time.Since(start))
	pidFile := filepath.Join(dir, "nutcracker.pid")
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("no pid file once -d returned: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSuffix(string(raw), "\n"))
	if err != nil || !strings.HasSuffix(string(raw), "\n") {
		t.Fatalf("pid file holds %q", raw)
	}
	killAtEnd(t, pid)
	// Serving already: no wait needed.
	ping(t, "127.0.0.1:"+itoa(port))
	doc, _ := readStats(t, "127.0.0.1:"+itoa(stats))
	if doc["service"] != "walnut" || doc["ntest"] == nil {
		t.Fatalf("stats: %v", doc)
	}

	st, err := readProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	mySid, _ := unix.Getsid(0)
	if st.ppid != 1 {
		t.Errorf("daemon's parent is %d, want 1 (init)", st.ppid)
	}
	if st.sid == mySid || st.sid != pid || st.tty != 0 {
		t.Errorf("daemon: session %d (the test's %d), tty %d; want a session of its own and no terminal", st.sid, mySid, st.tty)
	}
	for fd := range 3 {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); target != "/dev/null" {
			t.Errorf("daemon's fd %d is %q, want /dev/null", fd, target)
		}
	}
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != dir {
		t.Errorf("daemon's working directory is %q, want %q", cwd, dir)
	}
	if env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); bytes.Contains(env, []byte("WALNUT_DAEMON_READY")) {
		// /proc shows the environment the process started with; what
		// matters is that it unsets it, checked by the upgrade test.
		t.Logf("daemon started with its readiness marker, as expected")
	}

	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return gone(pid) }) {
		t.Fatal("daemon did not exit on SIGTERM")
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after SIGTERM: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "nutcracker.log"))
	for _, want := range []string{"walnut started", `msg="signal received" signal=SIGTERM`, "walnut stopped"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// -d that cannot start exits 1 in the foreground with the reason: a bad
// configuration before daemonizing, a port in use from the daemon (and in
// its log); no process is left behind and no pid file.
func TestNutcrackerCLIDaemonFailures(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	redis := testbed.Redis(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.yml"), "ntest:\n  listen: 127.0.0.1:1\n  timeout: soon\n  servers:\n   - 127.0.0.1:6379:1\n")
	out, errOut, code := runBin(t, dir, bin, "-d", "-c", "bad.yml", "-o", "bad.log", "-p", "bad.pid")
	if code != 1 || out != "" || !strings.Contains(errOut, "bad.yml:3: pools.ntest.timeout") ||
		!strings.HasSuffix(errOut, "walnut: configuration file 'bad.yml' syntax is invalid\n") {
		t.Fatalf("-d with a bad configuration: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.pid")); err == nil {
		t.Error("pid file written for a bad configuration")
	}

	// The pool's port is taken (by the redis-server).
	writeFile(t, filepath.Join(dir, "busy.yml"), "ntest:\n  listen: "+redis.Addr+"\n  redis: true\n  servers:\n   - "+redis.Addr+":1\n")
	stats := testbed.FreePort(t)
	out, errOut, code = runBin(t, dir, bin, "-d", "-c", "busy.yml", "-o", "busy.log", "-p", "busy.pid", "-s", itoa(stats), "-a", "127.0.0.1")
	if code != 1 || !strings.Contains(errOut, "walnut: cannot start: pool ntest: listen "+redis.Addr) ||
		!strings.Contains(errOut, "address already in use") {
		t.Fatalf("-d on a port in use: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "busy.log"))
	if !strings.Contains(string(log), `msg="cannot start"`) || !strings.Contains(string(log), "address already in use") {
		t.Errorf("the log does not say why:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(dir, "busy.pid")); err == nil {
		t.Error("pid file left by a daemon that did not start")
	}
	// The stats port is free again: the daemon is gone.
	if !waitFor(5*time.Second, func() bool { return testbed.WaitListening("127.0.0.1:"+itoa(stats), 10*time.Millisecond) != nil }) {
		t.Error("the failed daemon still listens")
	}

	out, errOut, code = runBin(t, dir, bin, "-d", "-c", "busy.yml", "-o", filepath.Join(dir, "no", "such.log"))
	if code != 1 || errOut != "walnut: opening log file '"+filepath.Join(dir, "no", "such.log")+"' failed: no such file or directory\n" {
		t.Fatalf("-d with a log file that cannot be opened: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// A binary upgrade (SIGUSR2) of a daemon: the new process rewrites the
// pid file, the old one leaves it, and the new one is as detached as the
// old: no terminal, the daemon's session, init as its parent once the
// old one is gone. It does not daemonize again.
func TestNutcrackerCLIDaemonUpgrade(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	dir, port, _ := ncDir(t)
	stats := testbed.FreePort(t)
	pidFile := filepath.Join(dir, "walnut.pid")
	if _, errOut, code := runBin(t, dir, bin, "-d", "-c", "nutcracker.yml", "-o", "walnut.log", "-p", pidFile,
		"-s", itoa(stats), "-a", "127.0.0.1"); code != 0 {
		t.Fatalf("-d: exit %d: %s", code, errOut)
	}
	old, err := readPid(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	killAtEnd(t, old)
	oldStat, _ := readProcStat(old)
	syscall.Kill(old, syscall.SIGUSR2)
	var pid int
	if !waitFor(20*time.Second, func() bool { pid, _ = readPid(pidFile); return pid != old && pid != 0 && gone(old) }) {
		log, _ := os.ReadFile(filepath.Join(dir, "walnut.log"))
		t.Fatalf("pid file still says %d (old %d) or the old process runs on\n%s", pid, old, log)
	}
	killAtEnd(t, pid)
	ping(t, "127.0.0.1:"+itoa(port))
	readStats(t, "127.0.0.1:"+itoa(stats))
	// The old process is gone and did not remove the new one's file.
	if got, err := readPid(pidFile); err != nil || got != pid {
		t.Fatalf("pid file after the old process exited: %d, %v", got, err)
	}
	// The old process's main thread turns zombie (gone) while its other
	// threads still exit, and its children are reparented only once the
	// last one has: give that a moment on a loaded machine.
	var st procStat
	waitFor(5*time.Second, func() bool { st, err = readProcStat(pid); return err != nil || st.ppid != old })
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != 1 || st.sid != oldStat.sid || st.tty != 0 {
		t.Errorf("upgraded process: parent %d, session %d (the daemon's %d), tty %d", st.ppid, st.sid, oldStat.sid, st.tty)
	}
	if env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); bytes.Contains(env, []byte("WALNUT_DAEMON_READY")) {
		t.Error("the daemon passed its readiness marker on to the upgraded process")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "walnut.log"))
	if !strings.Contains(string(log), `msg="signal received" signal=SIGUSR2`) || !strings.Contains(string(log), "walnut exiting after upgrade") {
		t.Errorf("log:\n%s", log)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if !waitFor(10*time.Second, func() bool { return gone(pid) }) {
		t.Fatal("upgraded process did not exit on SIGTERM")
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after SIGTERM: %v", err)
	}
}

// SIGHUP reopens the log file (logrotate moved it away: a new one
// appears, holding the signal's line); SIGTTIN and SIGTTOU move the log
// level one step and say so; every signal is logged by name.
func TestNutcrackerCLILogSignals(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	dir, port, conf := ncDir(t)
	logPath := filepath.Join(dir, "walnut.log")
	w := testbed.Start(t, "walnut", port, bin, "-c", conf, "-o", logPath, "-s", itoa(testbed.FreePort(t)), "-a", "127.0.0.1", "-v", "5")
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	w.Signal(syscall.SIGHUP)
	var log []byte
	if !waitFor(5*time.Second, func() bool {
		log, _ = os.ReadFile(logPath)
		return bytes.Contains(log, []byte("reload applied"))
	}) {
		t.Fatalf("no new log file after SIGHUP:\n%s", log)
	}
	if !bytes.Contains(log, []byte(`level=NOTICE msg="signal received" signal=SIGHUP`)) {
		t.Errorf("the new log file lacks the signal:\n%s", log)
	}
	if old, _ := os.ReadFile(logPath + ".1"); !bytes.Contains(old, []byte("walnut started")) || bytes.Contains(old, []byte("SIGHUP")) {
		t.Errorf("the rotated file:\n%s", old)
	}
	for _, s := range []struct {
		sig  syscall.Signal
		want string
	}{
		{syscall.SIGTTIN, `msg="up log level to 6" log_level=INFO`},
		{syscall.SIGTTIN, `msg="up log level to 7" log_level=DEBUG`},
		{syscall.SIGTTOU, `msg="down log level to 6" log_level=INFO`},
		{syscall.SIGTTOU, `msg="down log level to 5" log_level=INFO`},
		{syscall.SIGUSR1, `msg="signal received" signal=SIGUSR1 action=none`},
	} {
		w.Signal(s.sig)
		if !waitFor(5*time.Second, func() bool { log, _ = os.ReadFile(logPath); return bytes.Contains(log, []byte(s.want)) }) {
			t.Fatalf("after %v, no %s in the log:\n%s", s.sig, s.want, log)
		}
	}
	for _, name := range []string{"HUP", "TTIN", "TTOU", "USR1"} {
		if !bytes.Contains(log, []byte("signal=SIG"+name)) {
			t.Errorf("log lacks SIG%s:\n%s", name, log)
		}
	}
	ping(t, w.Addr)
	// Nothing went to stderr: the log is the file.
	if got := w.Log(); got != "" {
		t.Errorf("stderr: %q", got)
	}
	// SIGSEGV sent by kill: logged with a goroutine dump, then exit 2.
	w.Signal(syscall.SIGSEGV)
	if code := w.WaitExit(10 * time.Second); code != 2 {
		t.Fatalf("exit status %d after SIGSEGV", code)
	}
	log, _ = os.ReadFile(logPath)
	if !bytes.Contains(log, []byte(`msg="signal received" signal=SIGSEGV`)) || !bytes.Contains(log, []byte("goroutine ")) {
		t.Errorf("log after SIGSEGV:\n%s", log)
	}
}

// -s and -a put the nutcracker stats endpoint where they say, for a YAML
// file and for a TOML one (which has none unless configured or asked).
func TestNutcrackerCLIStatsFlags(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	redis := testbed.Redis(t)
	dir := t.TempDir()
	for _, c := range []struct {
		name, conf string
		args       []string
	}{
		{"yaml", ncConf(0, redis), []string{"-a", "127.0.0.1"}},
		{"toml", "[pools.ntest]\nlisten = \"127.0.0.1:0\"\nservers = [\"" + redis.Addr + ":1\"]\n", []string{"--stats-addr=127.0.0.1"}},
		{"toml-configured", "[stats]\nlisten = \"127.0.0.1:1\"\n[pools.ntest]\nlisten = \"127.0.0.1:0\"\nservers = [\"" + redis.Addr + ":1\"]\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			port, stats := testbed.FreePort(t), testbed.FreePort(t)
			conf := strings.Replace(c.conf, "127.0.0.1:0", "127.0.0.1:"+itoa(port), 1)
			ext := ".yml"
			if strings.HasPrefix(c.name, "toml") {
				ext = ".toml"
			}
			file := writeFile(t, filepath.Join(dir, c.name+ext), conf)
			testbed.Start(t, "walnut", port, bin, append([]string{"-c", file, "-s", itoa(stats)}, c.args...)...)
			// The stats endpoint opens just after the pools.
			if err := testbed.WaitListening("127.0.0.1:"+itoa(stats), 5*time.Second); err != nil {
				t.Fatal(err)
			}
			doc, raw := readStats(t, "127.0.0.1:"+itoa(stats))
			if doc["service"] != "walnut" || doc["ntest"] == nil || !strings.HasSuffix(raw, "}}\n") {
				t.Fatalf("stats: %s", raw)
			}
		})
	}
	// Without -s or -a, a TOML file without [stats] serves no stats: the
	// log says nothing of them.
	port := testbed.FreePort(t)
	file := writeFile(t, filepath.Join(dir, "nostats.toml"), "[pools.ntest]\nlisten = \"127.0.0.1:"+itoa(port)+"\"\nservers = [\""+redis.Addr+":1\"]\n")
	w := testbed.Start(t, "walnut", port, bin, "-c", file)
	if strings.Contains(w.Log(), "stats listening") {
		t.Fatalf("stats on without being asked:\n%s", w.Log())
	}
}

// -m is nutcracker's mbuf size, bounded as nutcracker bounds it; walnut
// reads client requests in chunks of that size and still takes requests
// many times larger (twemproxy's tests run with -m 512).
func TestNutcrackerCLIMbufSize(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	redis := testbed.Redis(t)
	dir := t.TempDir()
	for _, m := range []string{"511", "16777217"} {
		if _, errOut, code := runBin(t, dir, bin, "-m", m, "-c", "x.yml"); code != 1 ||
			!strings.HasPrefix(errOut, "walnut: mbuf chunk size must be between 512 and 16777216 bytes\n") {
			t.Errorf("-m %s: exit %d, %q", m, code, errOut)
		}
	}
	port := testbed.FreePort(t)
	conf := writeFile(t, filepath.Join(dir, "nutcracker.yml"), ncConf(port, redis))
	w := testbed.Start(t, "walnut", port, bin, "-c", conf, "-m", "512", "-s", itoa(testbed.FreePort(t)), "-a", "127.0.0.1")
	c := newClient(t, w.Addr)
	ctx := context.Background()
	key := strings.Repeat("k", 463)
	value := strings.Repeat("v", 100<<10)
	if err := c.Set(ctx, key, value, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, key).Result(); err != nil || got != value {
		t.Fatalf("GET of a 100KiB value through -m 512: %d bytes, %v", len(got), err)
	}
	pipe := c.Pipeline()
	for i := range 200 {
		pipe.Set(ctx, "m:"+itoa(i), strings.Repeat("x", i*10), 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline through -m 512: %v", err)
	}
}

// walnut convert turns nutcracker's example configuration into TOML that
// walnut checks, loads and runs as the same pools.
func TestNutcrackerCLIConvert(t *testing.T) {
	bin := testbed.WalnutBinary(t)
	dir := t.TempDir()
	example := "/usr/share/doc/nutcracker/examples/nutcracker.yml"
	if _, err := os.Stat(example); err != nil {
		t.Skipf("nutcracker's example configuration is not installed: %v", err)
	}
	out, errOut, code := runBin(t, dir, bin, "convert", example)
	if code != 0 || errOut != "" {
		t.Fatalf("convert: exit %d: %s", code, errOut)
	}
	toml := writeFile(t, filepath.Join(dir, "nutcracker.toml"), out)
	if _, errOut, code := runBin(t, dir, bin, "-t", "-c", toml); code != 0 {
		t.Fatalf("-t on the converted file: exit %d: %s\n%s", code, errOut, out)
	}
	want, err := config.Load(example)
	if err != nil {
		t.Fatal(err)
	}
	got, err := config.Load(toml)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Pools) != 5 || !reflect.DeepEqual(got.Pools, want.Pools) {
		t.Fatalf("pools differ:\n%s", out)
	}
	if got.Stats.Listen != "0.0.0.0:22222" {
		t.Errorf("converted stats listen %q, want nutcracker's 0.0.0.0:22222", got.Stats.Listen)
	}
	// Converting is stable.
	if again, _, _ := runBin(t, dir, bin, "convert", toml); !strings.Contains(again, out[strings.Index(out, "[proxy]"):]) {
		t.Errorf("converting the TOML again changes it:\n%s\n---\n%s", out, again)
	}
	writeFile(t, filepath.Join(dir, "bad.yml"), "alpha:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:6379:0\n")
	if out, errOut, code := runBin(t, dir, bin, "convert", "bad.yml"); code != 1 || out != "" ||
		!strings.Contains(errOut, "bad.yml:4: pools.alpha.servers[0]") {
		t.Fatalf("convert bad.yml: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
