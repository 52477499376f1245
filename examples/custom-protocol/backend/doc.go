// Command backend is a kvline server: an in-memory key-value store that
// speaks the protocol walnut's kvline pools shard over (see package
// kvline for the wire format). It parses requests with the very codec
// walnut uses, so the two ends cannot disagree on what a line means.
//
//	go run ./examples/custom-protocol/backend -listen 127.0.0.1:7001
//	go run ./examples/custom-protocol/backend -listen 127.0.0.1:7002 -hello walnut
//
// With -hello NAME, a connection must say HELLO NAME before anything but
// PING, INFO and QUIT: walnut's pool option greeting is what it says.
// The store lives as long as the process; it is for trying walnut out
// and for its tests, not for keeping data.
package main
