// Package fakeproto is a toy wire protocol and a backend that speaks it,
// for testing walnut's core on its own, as database/sql tests itself
// against a fake driver: core's tests never need a real codec or a real
// server, and what they observe (which server got which request, in
// which connection state, in which order) is under their control.
//
// The protocol is one line per message, tokens separated by one space.
// Its commands cover every request kind the core knows:
//
//	GET k, SET k v, ECHO k v   Forward by key k
//	JOIN k1 k2                 Forward; both keys must live on one server
//	SLEEP k ms                 Forward; the server waits ms before answering
//	CRASH k                    Forward; the server closes the connection
//	MGET k...                  Split; the values merged back in key order
//	DEL k...                   Split; the servers' counts summed
//	COUNT                      Broadcast; the servers' key counts summed
//	WHO i                      Targeted at server i
//	PING, QUIT, USE n, INFO    Local, answered by the codec
//	BLOCK k ms                 SLEEP on a connection of its own (Conn Once)
//	PIN ... UNPIN              the requests between on one connection (Pinned)
//	SUB ch..., UNSUB           subscriptions (Subscribed); PUB ch msg sends
//	                           MSG ch msg to the subscribers of ch
//
// USE n makes the client's later requests need their server connection
// in state n (Request.ConnState), which the codec switches with MODE
// n/1000 when the thousands change and SWITCH n%1000 when the rest does
// (protocols.StateSwitcher): a switch of one request or of two. The
// server keeps values per mode and state. A pool with fake_hello = "token" greets new
// server connections with HELLO token (protocols.Greeter). A line with a
// byte outside printable ASCII, an empty token or the wrong number of
// arguments is a *protocols.ProtocolError. GET, MGET and DEL read
// through to a reshard's old servers (protocols.ReadThrough).
//
// Importing the package registers the protocol as "fake". Only core's
// tests import it; walnut itself never links it in.
package fakeproto
