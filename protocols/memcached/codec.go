package memcached

import (
	"errors"

	"github.com/walnutproxy/walnut/protocols"
)

func init() {
	protocols.Register("memcached", driver{})
}

const (
	// maxKeyLen is memcached's KEY_MAX_LENGTH.
	maxKeyLen = 250
	// maxLine bounds a command line other than a retrieval one, whose
	// keys may fill the whole request. memcached gives up on a line at
	// 2 KiB; walnut allows more for long meta flag lists.
	maxLine = 8 << 10
	// maxRespLine bounds a response line other than a data block.
	// memcached's longest (VALUE with a 250-byte key, a meta line with a
	// base64 key and opaque) are far shorter.
	maxRespLine = 8 << 10
	// defaultMaxValue is memcached's largest item size (-I 1024m), the
	// bound of a data block when the pool sets none.
	defaultMaxValue = 1 << 30
)

// Codec is the memcached text and meta protocol codec. It holds only the
// pool's limits, so one value serves every connection of a pool
// concurrently.
type Codec struct {
	// maxValue bounds a data block in a request, maxRespValue one in a
	// response, maxRequest (0: no limit) a whole request.
	maxValue     int
	maxRespValue int
	maxRequest   int
	// lineMax bounds the content of a non-retrieval command line and
	// getLineMax that of a retrieval one (get, gets, gat, gats), each with
	// the error that reports it. Each is at most maxRequest-2, so a line
	// within its bound is never a request too large.
	lineMax    int
	lineErr    error
	getLineMax int
	getLineErr error
	// keyOK is strictKeyBytes or lenientKeyBytes.
	keyOK *[256]bool
}

// New returns a codec for a pool with the given limits and, in o.Own,
// its *Options (nil: the defaults). A zero limit is
// unset: values are then bounded by memcached's own maximum item size.
func New(o protocols.Options) (*Codec, error) {
	if o.MaxRequestSize < 0 || o.MaxValueSize < 0 {
		return nil, errors.New("memcached: negative size limit")
	}
	c := &Codec{
		maxValue: defaultMaxValue, maxRespValue: defaultMaxValue, maxRequest: o.MaxRequestSize,
		lineMax: maxLine, lineErr: errLineTooLong,
		getLineMax: int(^uint(0) >> 2), getLineErr: protocols.ErrRequestTooLarge,
		keyOK: &lenientKeyBytes,
	}
	if OptionsOf(o.Own).StrictKeys {
		c.keyOK = &strictKeyBytes
	}
	if o.MaxRequestSize > 0 {
		c.maxValue = min(c.maxValue, o.MaxRequestSize)
		c.maxRespValue = min(c.maxRespValue, o.MaxRequestSize)
		c.getLineMax = o.MaxRequestSize - 2
		if c.getLineMax < c.lineMax {
			c.lineMax, c.lineErr = c.getLineMax, c.getLineErr
		}
	}
	if o.MaxValueSize > 0 {
		c.maxValue = min(c.maxValue, o.MaxValueSize)
		c.maxRespValue = o.MaxValueSize
	}
	return c, nil
}

// Commands, stored in Request.Cmd.
const (
	cmdNone uint16 = iota
	cmdGet
	cmdGets
	cmdGat
	cmdGats
	cmdSet
	cmdAdd
	cmdReplace
	cmdAppend
	cmdPrepend
	cmdCas
	cmdIncr
	cmdDecr
	cmdDelete
	cmdTouch
	cmdMg
	cmdMs
	cmdMd
	cmdMa
	cmdVersion
)

// Request.Flags bits.
const (
	// reqNoreply marks a text command sent with noreply. walnut forwards
	// it without the token, so that every request gets exactly one
	// response on the server connection, and tells the client nothing.
	reqNoreply = 1 << iota
	// reqQuiet marks a meta command sent with the q flag, forwarded
	// without it; the reply is dropped when it is the code that q hides.
	reqQuiet
)

// With reqNoreply or reqQuiet, Args holds the request in two pieces, the
// bytes before and after the token to drop (the after piece carries the
// line's end and any data block). For a retrieval command Args holds the
// command name and, for gat and gats, the exptime, from which a part's
// request is rebuilt around its keys.

// AppendRequest implements protocols.Codec.
func (c *Codec) AppendRequest(dst []byte, req *protocols.Request, keys []int32) []byte {
	if keys == nil {
		if req.Flags&(reqNoreply|reqQuiet) != 0 {
			dst = append(dst, req.Args[0]...)
			return append(dst, req.Args[1]...)
		}
		return append(dst, req.Raw...)
	}
	dst = append(dst, req.Args[0]...)
	if req.Cmd == cmdGat || req.Cmd == cmdGats {
		dst = append(dst, ' ')
		dst = append(dst, req.Args[1]...)
	}
	for _, k := range keys {
		dst = append(dst, ' ')
		dst = append(dst, req.Keys[k]...)
	}
	return append(dst, '\r', '\n')
}

// AppendError implements protocols.Codec.
func (c *Codec) AppendError(dst []byte, err error) []byte {
	if pe, ok := protocols.AsProtocolError(err); ok {
		return appendErrLine(dst, "CLIENT_ERROR ", pe.Msg)
	}
	return appendErrLine(dst, "SERVER_ERROR ", err.Error())
}

// appendErrLine appends prefix and msg as one line, with CR and LF in
// msg, which would end the line early, turned into spaces.
func appendErrLine(dst []byte, prefix, msg string) []byte {
	return append(protocols.AppendOneLine(append(dst, prefix...), msg), '\r', '\n')
}
