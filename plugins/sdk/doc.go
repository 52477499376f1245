// Package sdk is for writing walnut plugins: a distribution or a hash
// function built as its own executable, which walnut starts, talks to
// over gRPC (hashicorp/go-plugin) and uses without being rebuilt.
//
// A distribution plugin's main is one line:
//
//	func main() { sdk.ServeDistribution(jump{}) }
//
// where jump implements Build(servers []sdk.Server) (sdk.Table, error).
// walnut calls Build when a pool starts and whenever its servers change,
// never per request: it routes requests in its own process with the
// Table, a sorted continuum or a power-of-two bucket table. A hash
// plugin implements Hash(keys [][]byte, out []uint32) error and is
// called once per batch of keys (see docs/plugins.md for what that
// costs).
//
// What a plugin writes to stdout or stderr, and what it logs through
// Logger, lands in walnut's log tagged with the plugin's name. Before
// Serve, stdout carries go-plugin's handshake: print nothing there.
package sdk
