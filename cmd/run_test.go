package walnutcmd

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/config"

	_ "github.com/walnutproxy/walnut/builtins"
)

func runCapture(args ...string) (stdout, stderr string, code int) {
	var o, e bytes.Buffer
	code = Run(args, &o, &e)
	return o.String(), e.String(), code
}

const versionBlock = "This is walnut-%s\nasync event backend: epoll\n\n"

// -V, -h and -D print to stderr, nothing to stdout, and exit 0 before
// anything else is looked at, -t included.
func TestRunPrintsAndExits(t *testing.T) {
	version := strings.Replace(versionBlock, "%s", Version, 1)
	for _, c := range []struct {
		args                  []string
		usage, stats, version bool
	}{
		{[]string{"-V"}, false, false, true},
		{[]string{"-t", "-V", "-c", "/nonexistent"}, false, false, true},
		{[]string{"-h"}, true, false, true},
		{[]string{"--help", "-d"}, true, false, true},
		{[]string{"-D"}, false, true, true},
		{[]string{"-hD"}, true, true, true},
	} {
		out, errOut, code := runCapture(c.args...)
		if code != 0 || out != "" {
			t.Errorf("%q: exit %d, stdout %q", c.args, code, out)
		}
		if !strings.HasPrefix(errOut, version) {
			t.Errorf("%q: stderr does not start with the version block:\n%s", c.args, errOut)
		}
		if got := strings.Contains(errOut, "Usage: walnut"); got != c.usage {
			t.Errorf("%q: usage printed: %v\n%s", c.args, got, errOut)
		}
		if got := strings.Contains(errOut, "pool stats:\n  client_eof          \"# eof on client connections\"\n"); got != c.stats {
			t.Errorf("%q: stats description printed: %v\n%s", c.args, got, errOut)
		}
		if c.usage && c.stats && !strings.Contains(errOut, "and exit\n\npool stats:\n") {
			t.Errorf("%q: no blank line between the usage and the stats:\n%s", c.args, errOut)
		}
	}
	if out, errOut, code := runCapture("-V"); errOut != version || out != "" || code != 0 {
		t.Errorf("-V: %q", errOut)
	}
	// walnut's --version stays what it was: one line on stdout.
	if out, errOut, code := runCapture("--version"); out != "walnut "+Version+"\n" || errOut != "" || code != 0 {
		t.Errorf("--version: stdout %q stderr %q exit %d", out, errOut, code)
	}
}

func TestRunOptionError(t *testing.T) {
	out, errOut, code := runCapture("-s", "0")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	lines := strings.SplitN(errOut, "\n", 2)
	if lines[0] != "walnut: option -s value 0 is not a valid port" || !strings.HasPrefix(lines[1], "Usage: walnut") {
		t.Fatalf("stderr:\n%s", errOut)
	}
}

func TestRunTestConf(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yml")
	os.WriteFile(good, []byte("alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  servers:\n   - 127.0.0.1:6379:1\n"), 0o644)
	out, errOut, code := runCapture("-t", "-c", good)
	if code != 0 || out != "" || errOut != "walnut: configuration file '"+good+"' syntax is ok\n" {
		t.Fatalf("good: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("alpha:\n  listen: 127.0.0.1:22121\n  timeout: soon\n  servers:\n   - 127.0.0.1:6379:1\n"), 0o644)
	out, errOut, code = runCapture("--test-conf", "--conf-file", bad)
	lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
	if code != 1 || out != "" || len(lines) < 2 || !strings.Contains(lines[0], bad+":3: pools.alpha.timeout") ||
		lines[len(lines)-1] != "walnut: configuration file '"+bad+"' syntax is invalid" {
		t.Fatalf("bad: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestLogLevelSteps(t *testing.T) {
	var buf bytes.Buffer
	l, err := newLogLevel(5, "")
	if err != nil {
		t.Fatal(err)
	}
	log, err := newLogger(&buf, &l.slog, "text")
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		l.step(true, log)
	}
	if l.n != 11 || l.slog.Level() != slog.LevelDebug {
		t.Fatalf("after 8 steps up from 5: %d, %v", l.n, l.slog.Level())
	}
	for range 12 {
		l.step(false, log)
	}
	if l.n != 0 || l.slog.Level() != slog.LevelError {
		t.Fatalf("after 12 steps down: %d, %v", l.n, l.slog.Level())
	}
	text := buf.String()
	// Each step is logged, whatever the level, nothing past either end.
	for n := 6; n <= 11; n++ {
		if !strings.Contains(text, `msg="up log level to `+strconv.Itoa(n)+`"`) {
			t.Errorf("no line for up to %d:\n%s", n, text)
		}
	}
	for n := 10; n >= 0; n-- {
		if !strings.Contains(text, `msg="down log level to `+strconv.Itoa(n)+`"`) {
			t.Errorf("no line for down to %d:\n%s", n, text)
		}
	}
	if c := strings.Count(text, "\n"); c != 6+11 {
		t.Errorf("%d lines, want 17:\n%s", c, text)
	}
	if !strings.Contains(text, "level=NOTICE") {
		t.Errorf("level not shown as NOTICE:\n%s", text)
	}
	buf.Reset()
	log.Info("hidden")
	if buf.Len() != 0 {
		t.Errorf("info shown at level 0: %q", buf.String())
	}

	for _, c := range []struct {
		v    int
		name string
		n    int
		lv   slog.Level
	}{
		{-1, "", 5, slog.LevelInfo}, {-1, "debug", 7, slog.LevelDebug}, {-1, "warn", 4, slog.LevelWarn},
		{-1, "error", 3, slog.LevelError}, {4, "", 4, slog.LevelWarn}, {11, "", 11, slog.LevelDebug},
		{7, "error", 3, slog.LevelError}, // --log-level wins over -v
	} {
		l, err := newLogLevel(c.v, c.name)
		if err != nil || l.n != c.n || l.slog.Level() != c.lv {
			t.Errorf("newLogLevel(%d, %q) = %d %v, %v; want %d %v", c.v, c.name, l.n, l.slog.Level(), err, c.n, c.lv)
		}
	}
	if _, err := newLogLevel(-1, "loud"); err == nil {
		t.Error("bad level name accepted")
	}
}

// SIGHUP reopens the log file by name: what is written after goes to a
// new file where the old one was, after logrotate moved it away.
func TestLogReopen(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "w.log")
	out, err := openLog(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.close()
	out.Write([]byte("one\n"))
	if err := os.Rename(name, name+".1"); err != nil {
		t.Fatal(err)
	}
	out.Write([]byte("two\n"))
	if err := out.reopen(); err != nil {
		t.Fatal(err)
	}
	out.Write([]byte("three\n"))
	old, _ := os.ReadFile(name + ".1")
	cur, _ := os.ReadFile(name)
	if string(old) != "one\ntwo\n" || string(cur) != "three\n" {
		t.Fatalf("old %q, new %q", old, cur)
	}
	st, _ := os.Stat(name)
	if st.Mode().Perm()&^0o644 != 0 {
		t.Errorf("log file mode %v", st.Mode())
	}
	// A file that cannot be opened again leaves the log where it was.
	if err := os.Rename(name, name+".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(name, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := out.reopen(); err == nil || err.Error() != "opening log file '"+name+"' failed: is a directory" {
		t.Errorf("reopen error: %v", err)
	}
	out.Write([]byte("four\n"))
	if cur, _ := os.ReadFile(name + ".2"); string(cur) != "three\nfour\n" {
		t.Errorf("after a failed reopen: %q", cur)
	}
	if _, err := openLog(filepath.Join(dir, "no", "such.log"), nil); err == nil ||
		err.Error() != "opening log file '"+filepath.Join(dir, "no", "such.log")+"' failed: no such file or directory" {
		t.Errorf("open error: %v", err)
	}
}

func TestPidFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "w.pid")
	pf, err := writePidFile(name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(name)
	if string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("pid file holds %q", b)
	}
	if err := pf.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Fatalf("pid file left: %v", err)
	}
	// A file another process took over stays.
	pf, _ = writePidFile(name)
	os.WriteFile(name, []byte("1"), 0o644)
	pf.remove()
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("someone else's pid file removed: %v", err)
	}
	// So does one handed over by an upgrade.
	pf, _ = writePidFile(name)
	pf.keep = true
	pf.remove()
	if _, err := os.Stat(name); err != nil {
		t.Fatalf("upgraded pid file removed: %v", err)
	}
	if _, err := writePidFile(filepath.Join(name, "x")); err == nil || !strings.HasPrefix(err.Error(), "opening pid file '") {
		t.Fatalf("error %v", err)
	}
}

// walnut convert prints TOML that loads into the same configuration,
// plus the stats endpoint walnut serves for a YAML file.
func TestRunConvert(t *testing.T) {
	dir := t.TempDir()
	yml := filepath.Join(dir, "nc.yml")
	os.WriteFile(yml, []byte("alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  timeout: 400\n  servers:\n   - 127.0.0.1:6379:1 a\n"), 0o644)
	out, errOut, code := runCapture("convert", yml)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	toml := filepath.Join(dir, "nc.toml")
	os.WriteFile(toml, []byte(out), 0o644)
	a, err := config.Load(yml)
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Load(toml)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if b.Stats.Listen != "0.0.0.0:22222" || len(b.Pools) != 1 || b.Pools[0].Timeout != a.Pools[0].Timeout {
		t.Fatalf("converted: %+v\n%s", b, out)
	}

	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("alpha:\n  listen: 127.0.0.1:22121\n  redis: maybe\n  servers:\n   - 127.0.0.1:6379:1\n"), 0o644)
	out, errOut, code = runCapture("convert", bad)
	if code != 1 || out != "" || !strings.Contains(errOut, bad+":3: pools.alpha.redis") {
		t.Fatalf("bad file: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := runCapture("convert"); code != 1 || !strings.HasPrefix(errOut, "Usage: walnut convert") {
		t.Fatalf("no file: exit %d, %q", code, errOut)
	}
}
