// Package core is walnut's protocol-agnostic proxy: listeners, client
// connections, shared and pipelined server connections, routing,
// timeouts and shutdown. It knows protocols only through the
// protocols.Codec interface and placement only through the distributions
// interfaces; it imports no concrete codec or distribution.
//
// The proxy runs on a few event loops (Linux epoll), each a goroutine
// that owns raw non-blocking sockets: the clients it accepted and its own
// connections to every server. A client's requests are parsed, routed and
// appended to the server connections' output in the order they are also
// queued there; at the end of each loop iteration every server connection
// with output is written once, whatever number of clients contributed to
// it, and responses are matched to requests by that FIFO order. Nothing on
// the request path takes a lock or starts a goroutine, and a warm
// connection allocates nothing per request.
package core
