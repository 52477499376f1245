package codectest

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

// verdict is what a parse answered: a length and an error, or a panic
// (reported already).
type verdict struct {
	n        int
	err      error
	panicked bool
}

func (v verdict) String() string {
	if v.panicked {
		return "a panic"
	}
	if v.n == 0 && v.err == nil {
		return "need more (0, nil)"
	}
	return fmt.Sprintf("(%d, %v)", v.n, v.err)
}

// same reports whether v and w are the same verdict. Errors are the same
// if equal or, for errors built anew each time, of the same type and
// text: either way the client is told the same.
func (v verdict) same(w verdict) bool {
	if v.panicked || w.panicked || v.n != w.n || (v.err == nil) != (w.err == nil) {
		return false
	}
	if v.err == nil {
		return true
	}
	t := reflect.TypeOf(v.err)
	if t != reflect.TypeOf(w.err) {
		return false
	}
	return t.Comparable() && v.err == w.err || v.err.Error() == w.err.Error()
}

// needMore reports whether v is "need more".
func (v verdict) needMore() bool { return v.n == 0 && v.err == nil && !v.panicked }

// parse calls ParseRequest; a panic is reported, as a failure, with the
// input that caused it.
func (s *suite) parse(r reporter, buf []byte, req *protocols.Request) verdict {
	r.Helper()
	return try(r, "ParseRequest", buf, func() (int, error) { return s.c.ParseRequest(buf, req) })
}

// parseResponse calls ParseResponse; a panic is reported.
func (s *suite) parseResponse(r reporter, buf []byte, to *protocols.Request) verdict {
	r.Helper()
	return try(r, "ParseResponse", buf, func() (int, error) { return s.c.ParseResponse(buf, to) })
}

func try(r reporter, what string, buf []byte, parse func() (int, error)) (v verdict) {
	r.Helper()
	defer func() {
		if p := recover(); p != nil {
			r.Errorf("%s(%s) panicked: %v", what, quote(string(buf)), p)
			v = verdict{panicked: true}
		}
	}()
	n, err := parse()
	return verdict{n: n, err: err}
}

// sizeOf calls RequestSize or ResponseSize; a panic is reported and
// counts as 0.
func sizeOf(r reporter, what string, f func([]byte) int, buf []byte) (n int) {
	r.Helper()
	defer func() {
		if p := recover(); p != nil {
			r.Errorf("%s(%s) panicked: %v", what, quote(string(buf)), p)
			n = 0
		}
	}()
	return f(buf)
}

// wellFormed reports a verdict that no input may get: a length outside
// the buffer, or an error with a length.
func wellFormed(r reporter, what string, buf []byte, v verdict) bool {
	r.Helper()
	if v.panicked {
		return false
	}
	if v.n < 0 || v.n > len(buf) || (v.err != nil && v.n != 0) {
		r.Errorf("%s(%s) = %v: the length must be within the %d bytes, and 0 with an error", what, quote(string(buf)), v, len(buf))
		return false
	}
	return true
}

// requestPrefixes checks every strict prefix of data (which parses to
// whole) against whole: "need more", or the very same verdict, since the
// core parses whatever it has read so far. With whole a request,
// RequestSize of a strict prefix of it may not announce more than its
// length. Longer prefixes hold a whole request, which the core takes
// before it asks for a size, so their size is not checked (Redis steps
// over whole values, for a dedicated connection's responses).
func (s *suite) requestPrefixes(r reporter, name string, data []byte, whole verdict) {
	r.Helper()
	parse := func(buf []byte) verdict { return s.parse(r, buf, s.request()) }
	var size func([]byte) int
	if s.sizer != nil {
		size = s.sizer.RequestSize
	}
	prefixes(r, name, "RequestSize", data, whole, parse, size)
}

// responsePrefixes is requestPrefixes for a response to to.
func (s *suite) responsePrefixes(r reporter, name string, data []byte, to *protocols.Request, whole verdict) {
	r.Helper()
	parse := func(buf []byte) verdict { return s.parseResponse(r, buf, to) }
	var size func([]byte) int
	if s.sizer != nil {
		size = s.sizer.ResponseSize
	}
	prefixes(r, name, "ResponseSize", data, whole, parse, size)
}

// prefixes is requestPrefixes and responsePrefixes: parse and size (nil
// for a codec that is not a Sizer) are the codec's. Only the first
// failure of each kind is reported.
func prefixes(r reporter, name, sizeName string, data []byte, whole verdict, parse func([]byte) verdict, size func([]byte) int) {
	r.Helper()
	stable, sized := true, size != nil && whole.err == nil && whole.n > 0
	for i := 0; i < len(data) && (stable || sized); i++ {
		if stable {
			if v := parse(data[:i]); v.panicked {
				stable = false
			} else if !v.needMore() && !v.same(whole) {
				r.Errorf("%s: its first %d bytes parse as %v, the whole as %v: a prefix must be need more or the same verdict", name, i, v, whole)
				stable = false
			}
		}
		if sized = sized && i < whole.n; sized {
			if n := sizeOf(r, sizeName, size, data[:i]); n > whole.n {
				r.Errorf("%s: %s of its first %d bytes is %d, more than its %d", name, sizeName, i, n, whole.n)
				sized = false
			}
		}
	}
}

// earlier is what dst holds before an encoder appends to it: the end of
// an earlier message, as the core's output buffers do.
const earlier = "codectest: bytes written before\r\n"

// appendOnly calls an encoder (AppendRequest, AppendReply, AppendError)
// on an empty dst and on dsts that hold bytes already, one full and one
// with spare capacity full of junk. It must leave those bytes as they
// were, in dst and in its result, and append the same bytes each time.
// It returns what was appended to nil, and false if it reported a
// failure.
func appendOnly(r reporter, what string, enc func(dst []byte) []byte) (out []byte, ok bool) {
	r.Helper()
	call := func(dst []byte) (out []byte, ok bool) {
		defer func() {
			if p := recover(); p != nil {
				r.Errorf("%s panicked: %v", what, p)
				ok = false
			}
		}()
		return enc(dst), true
	}
	base, ok := call(nil)
	if !ok {
		return nil, false
	}
	spare := make([]byte, len(earlier), len(earlier)+len(base)+64)
	junk := spare[:cap(spare)]
	for i := range junk {
		junk[i] = 0xa5
	}
	for _, dst := range [][]byte{[]byte(earlier), spare} {
		copy(dst, earlier)
		got, ok := call(dst)
		switch {
		case !ok:
			return nil, false
		case string(dst) != earlier:
			r.Errorf("%s changed the bytes already in dst: %q became %q", what, earlier, dst)
			return nil, false
		case len(got) < len(earlier) || string(got[:len(earlier)]) != earlier:
			r.Errorf("%s returned %s, which does not start with the %q that dst held", what, quote(string(got)), earlier)
			return nil, false
		case !bytes.Equal(got[len(earlier):], base):
			r.Errorf("%s appended %s after bytes already in dst, %s to an empty one: what it appends must not depend on dst", what, quote(string(got[len(earlier):])), quote(string(base)))
			return nil, false
		}
	}
	return base, true
}

// snapshot is a parsed Request, copied out so that it can be compared
// after its buffer is gone, with what AppendRequest sends for it whole
// (unless it is Local: the core sends those nowhere).
type snapshot struct {
	Kind       protocols.Kind
	Cmd, Flags uint16
	Raw        string
	Keys, Args []string
	Reply      string
	Close      bool
	Target     int
	Servers    int
	ConnState  int
	Conn       protocols.ConnKind
	Release    bool
	Held       bool
	ReleaseAll bool
	Block      time.Duration
	Sent       string
}

func strs(bs [][]byte) []string {
	if len(bs) == 0 {
		return nil
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// snap takes req's snapshot; ok is false if AppendRequest panicked.
func (s *suite) snap(r reporter, name string, req *protocols.Request) (sn snapshot, ok bool) {
	r.Helper()
	sn = snapshot{
		Kind: req.Kind, Cmd: req.Cmd, Flags: req.Flags, Raw: string(req.Raw),
		Keys: strs(req.Keys), Args: strs(req.Args), Reply: string(req.Reply), Close: req.Close,
		Target: req.Target, Servers: req.Servers, ConnState: req.ConnState, Conn: req.Conn,
		Release: req.Release, Held: req.Held, ReleaseAll: req.ReleaseAll, Block: req.Block,
	}
	if req.Kind != protocols.Local {
		sent, ok := appendOnly(r, fmt.Sprintf("%s: AppendRequest of the whole request", name), func(dst []byte) []byte {
			return s.c.AppendRequest(dst, req, nil)
		})
		if !ok {
			return sn, false
		}
		sn.Sent = string(sent)
	}
	return sn, true
}

// diff names the first field in which a and b differ, "" if none does.
func diff(a, b snapshot) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		fa, fb := va.Field(i).Interface(), vb.Field(i).Interface()
		if !reflect.DeepEqual(fa, fb) {
			return fmt.Sprintf("%s %#v, not %#v", va.Type().Field(i).Name, fa, fb)
		}
	}
	return ""
}

// checkWant compares a parsed request with what the case says.
func checkWant(r reporter, name string, in string, req *protocols.Request, want *Want) {
	r.Helper()
	if string(req.Raw) != in {
		r.Errorf("%s: Raw is %s, not the request as sent", name, quote(string(req.Raw)))
	}
	if want == nil {
		return
	}
	if req.Kind != want.Kind {
		r.Errorf("%s: Kind %d, want %d", name, req.Kind, want.Kind)
	}
	if got := strs(req.Keys); !slices.Equal(got, want.Keys) && len(got)+len(want.Keys) > 0 {
		r.Errorf("%s: Keys %q, want %q", name, got, want.Keys)
	}
	if string(req.Reply) != want.Reply || req.Close != want.Close {
		r.Errorf("%s: Reply %q Close %v, want %q %v", name, req.Reply, req.Close, want.Reply, want.Close)
	}
}
