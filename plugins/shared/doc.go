// Package shared is the contract between walnut and its external
// plugins, on both sides of the process boundary: the go-plugin
// handshake, the plugin-side interfaces (Distribution, Hash) and the
// gRPC shims that carry them over plugins/proto. It is laid out as
// hashicorp/go-plugin's examples/grpc: walnut dispenses the client
// shims, a plugin serves its implementation through the server shims.
//
// Plugin authors use plugins/sdk, which re-exports what they need; walnut
// uses plugins (the host). Neither side imports the other, so a plugin
// binary links no part of the proxy.
package shared
