// Command custom-protocol is walnut with a third protocol compiled in,
// beside the builtins: kvline, a small line protocol for a key-value
// store (package kvline), served by the backend in ./backend. It is the
// proof that a protocol joins walnut without a line of core/, config/ or
// protocols/ written for it, and the tutorial of docs/extending.md.
//
//	go build -o bin/walnut-kvline ./examples/custom-protocol
//	bin/walnut-kvline -c examples/custom-protocol/walnut.toml
//
// Its test builds this binary and the backend, starts two backends and
// walnut, and checks sharding, hash tags, split MGETs, pipelining, the
// pool's greeting option and the stats from outside, as a user would.
package main
