package sdk

import (
	"io"
	"log/slog"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/walnutproxy/walnut/plugins/shared"
)

// Server is one backend of a pool, in walnut's order (nutcracker's: by
// name, shorter names first), which Build's table indices refer to.
type Server = shared.Server

// Table is a routing table: a sorted continuum or a power-of-two bucket
// table (see shared.Table for exactly how walnut looks a hash up in
// each). Server indices point into Build's servers; -1 routes nowhere.
type Table = shared.Table

// Point is a point of a continuum.
type Point = shared.Point

// Distribution is implemented by distribution plugins.
type Distribution = shared.Distribution

// Hash is implemented by hash plugins.
type Hash = shared.Hash

// Plugins is what one binary serves: a distribution, a hash function, or
// both (set the ones you serve).
type Plugins struct {
	Distribution Distribution
	Hash         Hash
}

// ServeDistribution serves d until walnut stops the plugin; a plugin's
// main calls it and nothing else.
func ServeDistribution(d Distribution) { Serve(Plugins{Distribution: d}) }

// ServeHash serves h until walnut stops the plugin.
func ServeHash(h Hash) { Serve(Plugins{Hash: h}) }

// Serve serves what p sets until walnut stops the plugin. Run by hand
// rather than by walnut, the binary says it is a plugin and exits 1.
func Serve(p Plugins) {
	set := plugin.PluginSet{}
	if p.Distribution != nil {
		set[shared.DistributionPlugin] = &shared.DistributionGRPCPlugin{Impl: p.Distribution}
	}
	if p.Hash != nil {
		set[shared.HashPlugin] = &shared.HashGRPCPlugin{Impl: p.Hash}
	}
	if len(set) == 0 {
		Logger().Error("sdk.Serve: nothing to serve; set Plugins.Distribution or Plugins.Hash")
		os.Exit(1)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: shared.Handshake,
		Plugins:         set,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts,
				grpc.MaxRecvMsgSize(shared.MaxMessageSize), grpc.MaxSendMsgSize(shared.MaxMessageSize))...)
		},
		// go-plugin's own chatter (addresses, versions) is debug level
		// in hclog's JSON, which walnut parses and files under the
		// plugin's name at the level it says.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: stderr, JSONFormat: true}),
	})
}

// stderr is the process's stderr as it was before plugin.Serve replaced
// os.Stderr with a pipe that it forwards to walnut line by line: log
// entries written here reach walnut with their level and attributes.
var stderr io.Writer = os.Stderr

// Logger returns a logger for the plugin's own messages. walnut shows
// them in its log at their level, with their attributes and
// plugin=<name>. It writes the JSON lines go-plugin's host parses
// (hclog's @level, @message, @timestamp).
func Logger() *slog.Logger { return logger }

var logger = newLogger(stderr)

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// The exact layout go-plugin parses; another one makes it
				// take the whole line for plain text.
				a = slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				a.Key = "@level"
				a.Value = slog.StringValue(hclogLevel(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				a.Key = "@message"
			}
			return a
		},
	}))
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}
