// Package kvline is a small line protocol for a key-value store, and its
// walnut codec, registered as protocol "kvline". It exists to show that a
// protocol can join walnut without a line of core/, config/ or
// protocols/ written for it: importing this package is all a custom
// build of walnut needs (see ../main.go), and docs/extending.md walks
// through it as its tutorial.
//
// # Wire format
//
// A request is one line: words separated by spaces, ended by LF, which a
// CR may precede (so that nc works with or without -C). Command names
// are case-insensitive. A key is 1 to 250 bytes, none of them a space or
// a control character. Replies, from walnut and from backends, are lines
// ended by CRLF.
//
//	request             reply
//	GET key             VALUE <value> | NONE
//	SET key value       OK            (value: the rest of the line, spaces included)
//	DEL key [key...]    COUNT <n>     (keys that existed)
//	MGET key [key...]   VALUES <n>, then n lines VALUE <value> | NONE, in the keys' order
//	SIZE                COUNT <n>     (keys on every backend)
//	PING                PONG <greeting>
//	QUIT                BYE, and the connection closes
//	HELLO name          OK            (backends only: walnut sends it, see below)
//	INFO                INFO keys <n> hello <name> (backends only)
//
// Any request may be answered ERROR <text> (the request was wrong) or,
// by walnut, FAIL <text> (walnut could not get an answer: a backend down
// or timed out).
//
// # How walnut serves it
//
// GET and SET go to the backend that owns their key (protocols.Forward);
// DEL and MGET are split by backend (protocols.Split) and the parts'
// answers merged, counts summed and values put back in the client's key
// order; SIZE goes to every backend (protocols.Broadcast), counts summed;
// PING and QUIT are answered by walnut itself (protocols.Local).
//
// The pool option greeting (default "walnut") is the name walnut gives
// itself on every new backend connection, with "HELLO <greeting>"
// before any request (protocols.Greeter), and what it answers PING
// with. A backend started with -hello NAME refuses any other name, and
// walnut then fails the requests queued on that connection.
//
// # Bad input
//
// A request walnut can frame but not serve (an unknown command, a wrong
// number of arguments, a bad key, a value over the pool's
// max_value_size, HELLO or INFO sent to walnut) is answered ERROR and
// the connection reads on. A line longer than the pool's
// max_request_size, or one holding a NUL byte, means the client does not
// speak kvline: walnut answers ERROR and closes the connection.
// Backends are held to limits too: a value to max_value_size, any other
// reply line to 256 bytes (or to the longest VALUE line, if more). A
// backend past them is out of step: walnut closes its connection, and
// the requests waiting on it get FAIL.
//
// The codec allocates nothing per request once its buffers are warm,
// split MGETs over up to 16 backends included.
package kvline
