package plugins

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// hclogLogger is the hclog.Logger that go-plugin logs to, forwarding to
// walnut's slog logger (already tagged plugin=NAME). go-plugin also
// parses the plugin's stderr into it: JSON lines (hclog's, or
// sdk.Logger's) with their level and attributes, other lines as debug
// messages without attributes.
type hclogLogger struct {
	log  *slog.Logger
	name string
	// stderr marks the logger go-plugin reads the plugin's stderr into
	// (it names it after the binary).
	stderr bool
	// binary is that name, for Named to recognise it.
	binary string
	args   []any
}

var _ hclog.Logger = (*hclogLogger)(nil)

func newHCLogger(log *slog.Logger, binary string) *hclogLogger {
	return &hclogLogger{log: log, binary: binary}
}

// slogLevel maps hclog's levels; trace sits below slog's debug.
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

func (h *hclogLogger) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	if h.stderr && level == hclog.Debug && len(args) == 0 {
		// A plain line of the plugin's stderr (a parsed JSON entry
		// always has a timestamp argument): go-plugin files it as debug,
		// which would hide a plugin's log.Printf at walnut's usual level.
		lv = slog.LevelInfo
		args = []any{"stream", "stderr"}
	}
	ctx := context.Background()
	if !h.log.Enabled(ctx, lv) {
		return
	}
	all := append(append([]any(nil), h.args...), args...)
	attrs := make([]any, 0, len(all)+1)
	if h.name != "" && !h.stderr {
		attrs = append(attrs, slog.String("logger", h.name))
	}
	for i := 0; i+1 < len(all); i += 2 {
		key := fmt.Sprint(all[i])
		switch key {
		case "timestamp":
			continue // the plugin's clock; walnut's line has its own
		case "plugin":
			key = "path" // go-plugin's name for the binary; plugin= is walnut's name for it
		}
		attrs = append(attrs, slog.Any(key, all[i+1]))
	}
	if len(all)%2 == 1 {
		attrs = append(attrs, slog.Any("extra", all[len(all)-1]))
	}
	h.log.Log(ctx, lv, msg, attrs...)
}

func (h *hclogLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogLogger) enabled(l hclog.Level) bool {
	return h.log.Enabled(context.Background(), slogLevel(l))
}

func (h *hclogLogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogLogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogLogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogLogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogLogger) IsError() bool { return h.enabled(hclog.Error) }

// GetLevel reports the lowest level walnut's logger shows. go-plugin
// skips parsing stderr entries below it, and stops reading into a logger
// that is Off, so this must never say Off: plain lines are promoted.
func (h *hclogLogger) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if h.enabled(l) {
			return l
		}
	}
	return hclog.Error
}

// SetLevel does nothing: walnut's -log-level decides.
func (h *hclogLogger) SetLevel(hclog.Level) {}

func (h *hclogLogger) ImpliedArgs() []any { return h.args }

func (h *hclogLogger) With(args ...any) hclog.Logger {
	c := *h
	c.args = append(append([]any(nil), h.args...), args...)
	return &c
}

func (h *hclogLogger) Name() string { return h.name }

func (h *hclogLogger) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	c.stderr = h.name == "" && name == h.binary
	return &c
}

func (h *hclogLogger) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	c.stderr = name == h.binary
	return &c
}

func (h *hclogLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hclogLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return newLineWriter(func(line string) { h.Log(level, line) })
}

// lineWriter calls emit once per line written to it, however the writes
// cut the lines: go-plugin forwards a plugin's stdout and stderr in
// chunks.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

// maxLine bounds a line held while waiting for its end; a longer one is
// emitted in pieces.
const maxLine = 64 << 10

func newLineWriter(emit func(string)) *lineWriter { return &lineWriter{emit: emit} }

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) >= maxLine {
				w.emit(string(w.buf))
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		if line := strings.TrimRight(string(w.buf[:i]), "\r"); line != "" {
			w.emit(line)
		}
		w.buf = append(w.buf[:0], w.buf[i+1:]...)
	}
}
