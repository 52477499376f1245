package kvline

import (
	"errors"
	"fmt"

	"github.com/walnutproxy/walnut/protocols"
)

// Name is the protocol's name, as pools select it: protocol = "kvline".
const Name = "kvline"

func init() {
	// Registering from init is what makes a blank import of this package
	// enough: walnut's configuration reader, walnut -t and the proxy all
	// find the protocol by name in the registry.
	protocols.Register(Name, driver{})
}

// Command is a request's command, kept in protocols.Request.Cmd.
type Command uint16

// Commands. CmdNone marks a request the codec answers with an error.
const (
	CmdNone Command = iota
	CmdGet
	CmdSet
	CmdDel
	CmdMget
	CmdSize
	CmdPing
	CmdQuit
	CmdHello
	CmdInfo
	numCommands
)

// names are the commands as they are written on the wire; a split part
// is written with its command's name.
var names = [numCommands]string{
	CmdNone: "", CmdGet: "GET", CmdSet: "SET", CmdDel: "DEL", CmdMget: "MGET",
	CmdSize: "SIZE", CmdPing: "PING", CmdQuit: "QUIT", CmdHello: "HELLO", CmdInfo: "INFO",
}

func (c Command) String() string {
	if c < numCommands && c != CmdNone {
		return names[c]
	}
	return fmt.Sprintf("Command(%d)", uint16(c))
}

const (
	// MaxKeyLen bounds a key, as memcached does: a key is a name, not a
	// place to store data.
	MaxKeyLen = 250
	// defaultMaxLine bounds a line for a codec made without limits (the
	// backend's): a pool always passes its max_request_size.
	defaultMaxLine = 1 << 20
	// maxStackParts is how many parts a split MGET merges without
	// allocating; past it, one cursor slice per reply.
	maxStackParts = 16
	// maxStatusLine bounds a backend's reply lines other than VALUE's
	// (ERROR and its text, COUNT, VALUES, PONG and a greeting), unless
	// a VALUE line may be longer: a pool's small max_value_size bounds
	// its values, not the backend's error texts or counts.
	maxStatusLine = 256
)

// Codec is the kvline codec. It keeps only the pool's limits and the
// replies its options decide, never anything of one connection, so one
// value serves every connection of a pool concurrently.
type Codec struct {
	// maxLine bounds a request line, maxValue a SET's value and a
	// backend's, and maxRespLine any line of a backend's reply.
	maxLine, maxValue, maxRespLine int
	// pong answers PING; hello is the greeting sent to backends.
	pong, hello []byte
}

var _ protocols.Codec = (*Codec)(nil)

// New returns a codec for a pool with the given limits and, in o.Own,
// its *Options (nil: the defaults). A zero limit is unset.
func New(o protocols.Options) (*Codec, error) {
	if o.MaxRequestSize < 0 || o.MaxValueSize < 0 {
		return nil, errors.New("kvline: negative size limit")
	}
	own := OptionsOf(o.Own)
	// Options decoded from a file were checked there, naming the key;
	// these checks are for options made in code.
	if err := checkGreeting(own.Greeting); err != nil {
		return nil, fmt.Errorf("kvline: greeting: %w", err)
	}
	c := &Codec{maxLine: defaultMaxLine}
	if o.MaxRequestSize > 0 {
		c.maxLine = o.MaxRequestSize
	}
	c.maxValue = c.maxLine
	if o.MaxValueSize > 0 {
		c.maxValue = min(c.maxValue, o.MaxValueSize)
	}
	c.maxRespLine = max(c.maxValue+len(valuePrefix), maxStatusLine)
	c.pong = []byte("PONG " + own.Greeting + "\r\n")
	c.hello = []byte("HELLO " + own.Greeting + "\r\n")
	return c, nil
}

// AppendRequest implements protocols.Codec. The whole request goes as
// the client sent it; a split part is rewritten with the part's keys.
func (c *Codec) AppendRequest(dst []byte, req *protocols.Request, keys []int32) []byte {
	if keys == nil {
		return append(dst, req.Raw...)
	}
	dst = append(dst, names[req.Cmd]...)
	for _, k := range keys {
		dst = append(dst, ' ')
		dst = append(dst, req.Keys[k]...)
	}
	return append(dst, '\r', '\n')
}

// AppendError implements protocols.Codec: ERROR for what the client did
// wrong, FAIL for what walnut could not do.
func (c *Codec) AppendError(dst []byte, err error) []byte {
	if pe, ok := protocols.AsProtocolError(err); ok {
		return appendLine(dst, "ERROR ", pe.Msg)
	}
	return appendLine(dst, "FAIL ", err.Error())
}

// appendLine appends prefix and msg as one line. A CR or LF in msg (a
// backend's address in an error, say) would end the line early and put
// the client out of step, so they become spaces.
func appendLine(dst []byte, prefix, msg string) []byte {
	return append(protocols.AppendOneLine(append(dst, prefix...), msg), '\r', '\n')
}
