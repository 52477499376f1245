// Package core is walnut's protocol-agnostic proxy: listeners, client
// connections, shared and pipelined server connections, routing,
// timeouts and shutdown. It knows protocols only through the
// protocols.Codec interface and placement only through the distributions
// interfaces; it imports no concrete codec or distribution.
//
// Requests from many clients share a few connections per server. A
// client's goroutine parses a round of requests, appends their bytes to
// each server connection's output in the order it also queues them, and
// whoever finds the connection idle writes everything pending in one
// syscall. The connection's reader matches responses to requests by that
// FIFO order and wakes a client once its whole round is answered.
package core
