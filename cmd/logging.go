package walnutcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
)

// levelNotice is for the lines nutcracker writes whatever its level (a
// signal received, a level changed): above every level a logger can be
// set to, so that it always shows. It prints as NOTICE.
const levelNotice = slog.Level(12)

// logOutput is where the log goes: stderr, or the file of -o, which
// SIGHUP reopens so that logrotate can move it away.
type logOutput struct {
	mu   sync.Mutex
	name string // "" for stderr
	w    io.Writer
	f    *os.File
}

// openLog opens the log file as nutcracker does (append, created 0644),
// or returns stderr for "".
func openLog(name string, stderr io.Writer) (*logOutput, error) {
	if name == "" {
		return &logOutput{w: stderr}, nil
	}
	f, err := openLogFile(name)
	if err != nil {
		return nil, err
	}
	return &logOutput{name: name, w: f, f: f}, nil
}

func openLogFile(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening log file '%s' failed: %s", name, errText(err))
	}
	return f, nil
}

// errText is the system's text for err, without the operation and path
// Go puts in front ("no such file or directory").
func errText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (o *logOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.w.Write(p)
}

// isFile reports whether the log goes to a file rather than stderr.
func (o *logOutput) isFile() bool { return o.name != "" }

// reopen opens the log file's name again, for the file logrotate
// creates; on failure the log stays on the file it was on.
func (o *logOutput) reopen() error {
	if o.name == "" {
		return nil
	}
	f, err := openLogFile(o.name)
	if err != nil {
		return err
	}
	o.mu.Lock()
	old := o.f
	o.w, o.f = f, f
	o.mu.Unlock()
	return old.Close()
}

func (o *logOutput) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.f != nil {
		o.f.Close()
		o.f = nil
		o.w = io.Discard
	}
}

// logLevel is the level the logger lets through, which SIGTTIN and
// SIGTTOU move one step along nutcracker's scale (0 emerg ... 5 notice
// ... 11 pverb).
type logLevel struct {
	slog slog.LevelVar
	n    int // nutcracker's level
}

// newLogLevel starts at -v (nutcracker's scale) when given, and at the
// slog level name otherwise ("" is info); --log-level wins over -v.
func newLogLevel(verbose int, name string) (*logLevel, error) {
	l := &logLevel{}
	if name == "" && verbose >= 0 {
		l.set(verbose)
		return l, nil
	}
	if name == "" {
		name = "info"
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(name)); err != nil {
		return nil, fmt.Errorf("bad log level %q: want debug, info, warn or error", name)
	}
	l.slog.Set(lv)
	switch {
	case lv <= slog.LevelDebug:
		l.n = 7
	case lv <= slog.LevelInfo:
		l.n = 5
	case lv <= slog.LevelWarn:
		l.n = 4
	default:
		l.n = 3
	}
	return l, nil
}

func (l *logLevel) set(n int) {
	l.n = min(max(n, 0), nutcrackerLevelMax)
	l.slog.Set(nutcrackerLevel(l.n))
}

// step moves the level up (more verbose) or down by one and logs it, as
// nutcracker does; nothing happens at either end of the scale.
func (l *logLevel) step(up bool, log *slog.Logger) {
	switch {
	case up && l.n < nutcrackerLevelMax:
		l.set(l.n + 1)
		log.Log(context.Background(), levelNotice, fmt.Sprintf("up log level to %d", l.n), "log_level", l.slog.Level().String())
	case !up && l.n > 0:
		l.set(l.n - 1)
		log.Log(context.Background(), levelNotice, fmt.Sprintf("down log level to %d", l.n), "log_level", l.slog.Level().String())
	}
}

// nutcrackerLevel maps nutcracker's -v levels (emerg 0 ... pverb 11,
// notice 5 by default) to slog's.
func nutcrackerLevel(v int) slog.Level {
	switch {
	case v <= 3:
		return slog.LevelError
	case v == 4:
		return slog.LevelWarn
	case v <= 6:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

func newLogger(w io.Writer, level slog.Leveler, format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey && len(groups) == 0 {
			if lv, ok := a.Value.Any().(slog.Level); ok && lv == levelNotice {
				a.Value = slog.StringValue("NOTICE")
			}
		}
		return a
	}}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("bad log format %q: want text or json", format)
	}
}
