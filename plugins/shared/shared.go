package shared

import (
	"context"
	"math"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/walnutproxy/walnut/plugins/proto"
)

// Handshake is checked by go-plugin before anything else is said. The
// cookie only tells a binary started by hand that it is a plugin (go-plugin
// then prints so and exits); the protocol version is bumped when
// plugins/proto changes incompatibly, so that a plugin built against an
// older contract fails at start with a message naming both versions,
// instead of misbehaving later.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "WALNUT_PLUGIN",
	MagicCookieValue: "7d1f0c4e9a52b8e3-walnut-plugin",
}

// Names of the plugin kinds in go-plugin's plugin set.
const (
	DistributionPlugin = "distribution"
	HashPlugin         = "hash"
)

// MaxMessageSize bounds a gRPC message either way. gRPC's default of
// 4 MiB is smaller than one request walnut accepts (max_request_size is
// 64 MiB by default) and a hash batch gathers many; a table of 2^24
// buckets is up to 80 MiB on the wire.
const MaxMessageSize = math.MaxInt32

// PluginSet is what the host can dispense: both kinds, since it learns
// only after the handshake which ones a plugin serves.
func PluginSet() plugin.PluginSet {
	return plugin.PluginSet{
		DistributionPlugin: &DistributionGRPCPlugin{},
		HashPlugin:         &HashGRPCPlugin{},
	}
}

// DistributionGRPCPlugin serves a Distribution (plugin side, with Impl
// set) or dispenses a *DistributionClient (host side).
type DistributionGRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Distribution
}

// GRPCServer registers the Distribution service.
func (p *DistributionGRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterDistributionServer(s, &distributionServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a *DistributionClient.
func (p *DistributionGRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &DistributionClient{c: pb.NewDistributionClient(c)}, nil
}

// HashGRPCPlugin serves a Hash (plugin side, with Impl set) or dispenses
// a *HashClient (host side).
type HashGRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl Hash
}

// GRPCServer registers the Hash service.
func (p *HashGRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterHashServer(s, &hashServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a *HashClient.
func (p *HashGRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &HashClient{c: pb.NewHashClient(c)}, nil
}
