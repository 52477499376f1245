package protocols

import (
	"errors"
	"fmt"
	"time"
)

// Kind says how the core handles a parsed request.
type Kind uint8

const (
	// Forward sends the request unchanged to the server that owns its
	// keys. A request with several keys is refused unless all of them
	// live on one server.
	Forward Kind = iota
	// Split may be cut into one part per server, each carrying some of
	// the keys; the codec merges the parts' responses into one reply.
	Split
	// Local is answered by the codec itself with Request.Reply; no server
	// is involved.
	Local
	// Broadcast goes, unchanged unless AppendRequest rewrites it, to every
	// server of the pool that is in the routing table (ejected servers
	// are skipped), one part each, in the pool's server order; the codec
	// merges the parts' responses. It carries no keys.
	Broadcast
	// Targeted goes to the one server whose index (in the pool's server
	// order) the codec puts in Request.Target. If that server is out of
	// the routing table the core sends it to the next one in order that
	// is in, and if none is, AppendReply gets no part at all. Part.Server
	// says where it went.
	Targeted
)

// Request is one parsed client request. The core owns it and reuses it
// from request to request, so a codec appends into its slices (Keys,
// Args, Reply) rather than allocating new ones. Byte slices point into the
// client's read buffer, which stays untouched until the reply is written.
type Request struct {
	Kind Kind
	// Cmd and Flags are the codec's own: command number and per-request
	// flags, read back when it parses the response and builds the reply.
	Cmd   uint16
	Flags uint16
	// Raw is the whole request as the client sent it.
	Raw []byte
	// Keys are the routing keys in the order the client gave them.
	Keys [][]byte
	// Args holds whatever else the codec wants to remember (for example
	// the value that goes with each key of an MSET).
	Args [][]byte
	// Reply is the answer to a Local request.
	Reply []byte
	// Close asks the core to close the client once Reply is written.
	Close bool
	// Mute asks the core to send the client nothing for the request,
	// errors included, however it is served (Redis' CLIENT REPLY OFF
	// and SKIP).
	Mute bool
	// Session is the client's session (see Sessions), set by the core
	// before ParseRequest; nil for codecs without sessions.
	Session any
	// Target is the server of a Targeted request, set by the codec.
	Target int
	// Servers is the number of servers of the pool, routable or not,
	// set by the core before ParseRequest (a codec may serve a pool of
	// one server as if it were that server) and again, as the routing
	// table has it, for Broadcast and Targeted requests.
	Servers int
	// ConnState is the state the server connection must be in for the
	// request (a Redis database, say): 0 is the state Greeting sets up;
	// for another, the core sends StateSwitcher.SwitchState's requests
	// ahead of the request unless the connection is in that state
	// already.
	ConnState int

	// Conn is the server connection the request needs: the pool's
	// shared ones (the zero value) or one of the client's own (see
	// Conn). Release, Held and Block qualify it.
	Conn ConnKind
	// Release, with Conn Pinned or Subscribed, ends the client's lease
	// of those connections once the request is sent.
	Release bool
	// Held limits a Subscribed request to the connections the client
	// already holds: servers it holds none to are left out.
	Held bool
	// ReleaseAll ends every lease the client holds once the request is
	// dispatched, whatever its Conn (Redis' RESET): a request with Conn
	// Pinned goes on the pinned connection first and must leave it clean
	// (DISCARD, UNWATCH), the connection going back to the idle set once
	// answered; a pinned connection the request does not go on is
	// closed; Subscribed connections are closed once what was sent on
	// them is answered. Nothing after it is in its round.
	ReleaseAll bool
	// ReadOnly marks a request that a replica may serve, when the pool
	// reads from replicas (View.ReadFrom): it reads keys and writes none.
	ReadOnly bool
	// Block is how long the server may legitimately hold a Once request
	// before answering (a blocking command's own timeout), on top of the
	// pool's timeout; negative: as long as it takes.
	Block time.Duration
}

// ConnKind says which server connection a request goes on. Most requests
// share the pool's pipelined connections; the others need a dedicated
// connection: one of the client's own, set up like the shared ones (the
// Greeter's AUTH and SELECT), counted against the pool's max_dedicated.
// The core never lets requests on different connections of a client
// overlap: a request for another kind of connection than the ones
// before it waits until they are answered.
//
// When the core cannot send a request on the connection it asks for
// (its keys live on another server than the connection's, too many
// dedicated connections), it tells a Leaser at once and answers it
// through AppendReply with a failed part.
type ConnKind uint8

const (
	// Shared: the pool's pipelined connections, shared by all clients.
	Shared ConnKind = iota
	// Once: a dedicated connection to the server of the request's keys
	// (all on one server) for this request alone, back in the pool's
	// idle set once answered: a blocking command, which must not stall
	// the shared pipeline.
	Once
	// Pinned: the connection the client holds across requests (a
	// transaction). The first Pinned request with keys leases one to the
	// server of its keys; later ones must have all their keys on that
	// server; one without keys goes on it. A Local request with Pinned
	// starts the lease before any server is chosen; Release ends it,
	// and the connection goes back to the idle set once answered.
	Pinned
	// Subscribed: the client's connections for pub/sub, at most one per
	// server, on which servers also send values nobody asked for (see
	// Pusher). With keys, the request is split by server and each part
	// goes on the connection to its server, leased if the client holds
	// none; without keys it goes to every server of the pool, or with
	// Held to every connection the client holds. Release closes them all
	// once answered.
	Subscribed
)

// Leaser is implemented by codecs whose requests use dedicated
// connections and keep state about them (a transaction whose command
// could not be queued must fail at EXEC).
type Leaser interface {
	// Refused tells the codec that req, a request for a dedicated
	// connection, was not sent, and why. It is called as the core
	// dispatches, in the client's order, before any later request is
	// sent; the client's reply comes through AppendReply, with a part
	// whose Err is err.
	Refused(req *Request, err error)
}

// Pusher is implemented by codecs whose servers send values nobody
// asked for on Subscribed connections (pub/sub messages). The core
// relays each one to the client that holds the connection, as it came.
type Pusher interface {
	// PushLen returns the length of the unsolicited value at the start
	// of buf, 0 if buf holds only part of it; an error means the stream
	// cannot be trusted, and the core closes that connection.
	PushLen(buf []byte) (int, error)
}

// ElsewhereError refuses a request for a dedicated connection whose
// keys do not all live on one server: Keys[Key] lives on another server
// than Keys[0] or, when Held, than the connection the client holds.
type ElsewhereError struct {
	Key  int
	Held bool
}

func (e *ElsewhereError) Error() string {
	if e.Held {
		return "key lives on another server than the connection the client holds (a hash tag keeps related keys together)"
	}
	return "keys of this request belong to different servers (a hash tag keeps related keys together)"
}

// ErrNoLease refuses a Pinned request without keys when the client holds
// no connection to send it on.
var ErrNoLease = errors.New("no server connection is held for this client")

// Reset empties r for reuse, keeping the capacity of its slices.
func (r *Request) Reset() {
	*r = Request{Keys: r.Keys[:0], Args: r.Args[:0], Reply: r.Reply[:0], Session: r.Session}
}

// Part is the share of a request that went to one server: the indices of
// the keys it carried (nil for all of them) and what the server answered.
type Part struct {
	Keys []int32
	Resp []byte
	// Err is set, and Resp empty, when the server gave no usable answer
	// (unreachable, timed out, connection lost).
	Err error
	// Server is the index of the server in the pool's server order, and
	// Name how messages name it ("10.0.0.1:6379", or with its name).
	Server int
	Name   string
}

// Codec is one wire protocol as the core sees it. A codec is shared by
// every connection of a pool, so it keeps no per-connection state; its
// methods must be safe for concurrent use and must not allocate on the
// common paths (the core asserts zero allocations per request).
type Codec interface {
	// ParseRequest parses the request at the start of buf into req (which
	// has been Reset). It returns the number of bytes the request takes.
	// 0 with a nil error means buf holds only the start of a request:
	// the core reads more and calls again from the same start. An error
	// means the client's stream cannot be trusted any more: the core
	// replies AppendError(err) and closes that client.
	ParseRequest(buf []byte, req *Request) (int, error)

	// AppendRequest appends to dst the bytes to send to a server for the
	// keys of req listed in keys, or for all of req when keys is nil.
	AppendRequest(dst []byte, req *Request, keys []int32) []byte

	// ParseResponse returns the length of the server's response to req at
	// the start of buf, 0 if buf holds only part of it. An error means the
	// server's stream cannot be trusted; the core closes that connection.
	ParseResponse(buf []byte, req *Request) (int, error)

	// AppendReply appends the client's reply to req, made from the
	// responses of its parts (one part unless req was Split). A part with
	// Err set stands for a server that failed; the codec answers that
	// part, or the whole request, with an error in its own dialect.
	AppendReply(dst []byte, req *Request, parts []Part) []byte

	// AppendError appends an error reply carrying err's text in the
	// protocol's dialect (for example "-ERR ..." or "SERVER_ERROR ...").
	// A *ProtocolError gets the protocol's client-error form.
	AppendError(dst []byte, err error) []byte
}

// Sizer is implemented by codecs that can tell from the start of a
// message how long it is at least, as far as its headers say (the length
// of a bulk string, of a memcached data block). The core then reads a
// large value into one buffer of its size instead of one that doubles
// on the way there, copying what it read at every step.
type Sizer interface {
	// RequestSize and ResponseSize return how many bytes the message at
	// the start of buf takes at least, or 0 if its headers do not say
	// (yet). They are called only when a buffer is full, never per
	// request.
	RequestSize(buf []byte) int
	ResponseSize(buf []byte) int
}

// HealthChecker is implemented by codecs that can probe a server, so
// that walnut can eject a dead server before requests fail on it and
// bring it back as soon as it answers.
type HealthChecker interface {
	// HealthProbe returns a request every healthy server answers at
	// once (PING, version).
	HealthProbe() []byte
	// HealthReply returns the length of the reply at the start of buf (0
	// if incomplete) and whether it says the server is healthy; an error
	// means the reply is malformed.
	HealthReply(buf []byte) (n int, healthy bool, err error)
}

// Classifier is implemented by codecs that sort requests into command
// families (a command, usually) for per-family metrics.
type Classifier interface {
	// Families lists the families; it is the same list every time.
	Families() []string
	// Family returns req's index in Families.
	Family(req *Request) int
}

// Sessions is implemented by codecs that keep state per client across
// requests (whether it has authenticated, say). The core makes a session
// for every client and hands it over with each request in
// Request.Session; only the codec looks inside.
type Sessions interface {
	NewSession() any
	// MarshalSession and UnmarshalSession carry a session to the process
	// taking over in a binary upgrade.
	MarshalSession(s any) []byte
	UnmarshalSession(b []byte) any
}

// Greeter is implemented by codecs that set up every new server
// connection before it carries clients' requests (AUTH, SELECT).
type Greeter interface {
	// Greeting returns the requests to send first on a new connection
	// and the number of replies they get; nil and 0 for none.
	Greeting() ([]byte, int)
	// GreetingReply returns the length of the reply at the start of buf
	// (0 if incomplete), the reply to the i-th request of the greeting
	// (from 0), and an error if it refuses the setup; the core then
	// closes that connection and fails what was queued on it with the
	// error's text. Nothing queued is sent before every reply is in.
	GreetingReply(i int, buf []byte) (int, error)
}

// StateSwitcher is implemented by codecs whose requests may need their
// server connection in a state of their own (Request.ConnState): Redis'
// databases, each chosen with SELECT, and its protocol versions, chosen
// with HELLO, on the pool's shared connections.
type StateSwitcher interface {
	// SwitchState appends to dst the requests that take a connection
	// from state from to state to (from != to; 0 is what Greeting set
	// up), and returns dst and the number of replies they get, at least
	// one. What a switch sends may depend on where it starts: a Redis
	// connection that changes database but not protocol needs SELECT
	// alone, one that changes both HELLO and SELECT.
	SwitchState(dst []byte, from, to int) ([]byte, int)
	// SwitchReply checks the i-th reply (from 0) to SwitchState(dst,
	// from, to), framed by ParseResponse: an error means the connection
	// is not in the state, and the core closes it and fails what was
	// queued on it with the error's text. The first switch to a state on
	// a connection goes out alone, as the Greeting does: nothing queued
	// after it is sent before all its replies are in, so a refused
	// switch lets no request run in another state. Once the server has
	// taken a state on a connection, switches to it are pipelined with
	// the requests around them.
	SwitchReply(from, to, i int, resp []byte) error
}

// ProxyInfo is what walnut tells a codec about itself and one pool, for
// commands that report it (Redis' INFO).
type ProxyInfo struct {
	Version string
	Pool    string
	Listen  string // the pool's address
	Start   time.Time
	Workers int
	// Clients are the pool's clients now, MaxClients its limit,
	// Rejected those refused at it.
	Clients    int64
	MaxClients int
	Rejected   uint64
	// ConfigFile is the configuration file walnut read, if any.
	ConfigFile string
	// ClientsAccepted counts the pool's clients ever; Requests the
	// requests they sent; ForwardErrors those answered with an error
	// because a server failed them; Fragments the parts of split ones.
	ClientsAccepted uint64
	Requests        uint64
	ForwardErrors   uint64
	Fragments       uint64
	// Servers and Ejected count the pool's servers and those out of the
	// routing table; Ejections the ejections ever.
	Servers, Ejected int
	Ejections        uint64
}

// CrossServerError answers a request whose keys live on different servers
// when the protocol cannot split it: Key is not on the server of First.
type CrossServerError struct {
	// Cmd is Request.Cmd, for the codec to name the command.
	Cmd        uint16
	First, Key string
}

func (e *CrossServerError) Error() string {
	return fmt.Sprintf("keys of this request belong to different servers: %q is not with %q (a hash tag keeps related keys together)", e.Key, e.First)
}

// ProtocolError reports a malformed client request. Its text is what the
// client is told, after the protocol's own prefix.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return e.Msg }

// Errorf returns a *ProtocolError. Codecs build their parse errors once,
// as package variables, so that a bad request costs no allocation.
func Errorf(format string, args ...any) *ProtocolError {
	return &ProtocolError{Msg: fmt.Sprintf(format, args...)}
}

// ErrRequestTooLarge is reported by the core when a request outgrows the
// pool's max request size before it is complete.
var ErrRequestTooLarge = &ProtocolError{Msg: "request too large"}

// AsProtocolError returns the *ProtocolError that err is or wraps. It
// costs no allocation when err is one itself, as the core hands them to
// AppendError; only a wrapped one needs errors.As, which allocates.
func AsProtocolError(err error) (*ProtocolError, bool) {
	if pe, ok := err.(*ProtocolError); ok {
		return pe, true
	}
	var pe *ProtocolError
	ok := errors.As(err, &pe)
	return pe, ok
}

// AppendOneLine appends s to dst with every CR and LF in it turned into
// a space: text that goes inside a reply line (an error's message, which
// may quote a server's address or reply) must not end the line early
// and put the client out of step.
func AppendOneLine(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// IsProtocolError reports whether err is (or wraps) a *ProtocolError.
func IsProtocolError(err error) bool {
	var pe *ProtocolError
	return errors.As(err, &pe)
}
