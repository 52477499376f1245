package kvline

import (
	"bytes"

	"github.com/walnutproxy/walnut/protocols"
)

// Errors after which the client's stream cannot be followed: the core
// answers AppendError(err) and closes the connection. They are built
// once, so that a bad client costs no allocation.
var (
	errLineTooLong = &protocols.ProtocolError{Msg: "line too long"}
	errBinary      = &protocols.ProtocolError{Msg: "NUL byte in a request: not a kvline client"}
)

// keyBytes are the bytes a key may hold: not a space, which separates
// words, nor a control character, which a terminal would not show.
var keyBytes = func() (t [256]bool) {
	for i := range t {
		t[i] = i > ' ' && i != 0x7f
	}
	return t
}()

// ParseRequest implements protocols.Codec. Keys and Args point into buf;
// Args holds SET's value and HELLO's name.
func (c *Codec) ParseRequest(buf []byte, req *protocols.Request) (int, error) {
	// A line of maxLine bytes takes maxLine+2 with its CRLF: look no
	// further, so that a client that never sends LF is caught once it
	// has sent that much, not when it fills the pool's buffer.
	window := buf[:min(len(buf), c.maxLine+2)]
	nl := bytes.IndexByte(window, '\n')
	if nl < 0 {
		if len(window) == c.maxLine+2 {
			return 0, errLineTooLong
		}
		return 0, nil
	}
	line := buf[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) > c.maxLine {
		return 0, errLineTooLong
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return 0, errBinary
	}
	n := nl + 1
	req.Raw = buf[:n:n]
	c.parseLine(line, req)
	return n, nil
}

// parseLine fills req from one request line, without its line end.
func (c *Codec) parseLine(line []byte, req *protocols.Request) {
	name, rest := word(line)
	if len(name) == 0 {
		localError(req, "empty line")
		return
	}
	cmd := lookup(name)
	req.Cmd = uint16(cmd)
	switch cmd {
	case CmdGet:
		key, rest := word(rest)
		if key == nil || !blank(rest) {
			arityError(req, cmd)
			return
		}
		if c.addKey(req, key) {
			req.Kind = protocols.Forward
		}
	case CmdSet:
		key, rest := word(rest)
		if key == nil || len(rest) == 0 {
			arityError(req, cmd)
			return
		}
		// The value is the rest of the line after the one space that
		// ends the key: it may hold spaces, and be empty.
		value := rest[1:]
		if len(value) > c.maxValue {
			localError(req, "value too large")
			return
		}
		if c.addKey(req, key) {
			req.Args = append(req.Args, value)
			req.Kind = protocols.Forward
		}
	case CmdDel, CmdMget:
		for {
			var key []byte
			if key, rest = word(rest); key == nil {
				break
			}
			if !c.addKey(req, key) {
				return
			}
		}
		if len(req.Keys) == 0 {
			arityError(req, cmd)
			return
		}
		req.Kind = protocols.Split
	case CmdSize, CmdPing, CmdQuit, CmdInfo:
		if !blank(rest) {
			arityError(req, cmd)
			return
		}
		switch cmd {
		case CmdSize:
			req.Kind = protocols.Broadcast
		case CmdPing:
			local(req, c.pong)
		case CmdQuit:
			local(req, replyBye)
			req.Close = true
		case CmdInfo:
			local(req, replyBackendOnly)
		}
	case CmdHello:
		// A backend's command: the backend, which parses with this codec,
		// reads the name from Args; walnut refuses it.
		who, rest := word(rest)
		if who == nil || !blank(rest) {
			arityError(req, cmd)
			return
		}
		req.Args = append(req.Args, who)
		local(req, replyBackendOnly)
	default:
		req.Kind = protocols.Local
		req.Reply = append(req.Reply, "ERROR unknown command "...)
		req.Reply = appendPrintable(req.Reply, name[:min(len(name), 32)])
		req.Reply = append(req.Reply, '\r', '\n')
	}
}

var (
	replyBye         = []byte("BYE\r\n")
	replyBackendOnly = []byte("ERROR HELLO and INFO are for backends: ask one directly\r\n")
)

// addKey appends key to req's keys if it is a valid key, else answers
// req with an error and reports false.
func (c *Codec) addKey(req *protocols.Request, key []byte) bool {
	if len(key) > MaxKeyLen {
		localError(req, "key longer than 250 bytes")
		return false
	}
	for _, b := range key {
		if !keyBytes[b] {
			localError(req, "control character in a key")
			return false
		}
	}
	req.Keys = append(req.Keys, key)
	return true
}

// word returns the first word of s, nil if there is none, and what
// follows it, starting at the space after it.
func word(s []byte) (w, rest []byte) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i == len(s) {
		return nil, nil
	}
	j := i
	for j < len(s) && s[j] != ' ' {
		j++
	}
	return s[i:j], s[j:]
}

// blank reports whether s holds spaces only.
func blank(s []byte) bool {
	for _, b := range s {
		if b != ' ' {
			return false
		}
	}
	return true
}

// lookup returns the command name stands for, CmdNone if none; names are
// case-insensitive, and comparing without folding a copy allocates
// nothing.
func lookup(name []byte) Command {
	for cmd := CmdGet; cmd < numCommands; cmd++ {
		if len(name) == len(nameBytes[cmd]) && bytes.EqualFold(name, nameBytes[cmd]) {
			return cmd
		}
	}
	return CmdNone
}

var nameBytes = func() (b [numCommands][]byte) {
	for i, n := range names {
		b[i] = []byte(n)
	}
	return b
}()

// local makes req a request walnut answers with reply.
func local(req *protocols.Request, reply []byte) {
	req.Kind = protocols.Local
	req.Reply = append(req.Reply, reply...)
}

// localError makes req a request answered ERROR msg, read on from.
// Cmd goes back to CmdNone, so that the backend, which parses with this
// codec, answers the error rather than running the command.
func localError(req *protocols.Request, msg string) {
	req.Kind = protocols.Local
	req.Cmd = uint16(CmdNone)
	req.Keys = req.Keys[:0]
	req.Args = req.Args[:0]
	req.Reply = append(req.Reply[:0], "ERROR "...)
	req.Reply = append(req.Reply, msg...)
	req.Reply = append(req.Reply, '\r', '\n')
}

func arityError(req *protocols.Request, cmd Command) {
	localError(req, "wrong number of arguments for ")
	req.Reply = append(req.Reply[:len(req.Reply)-2], names[cmd]...)
	req.Reply = append(req.Reply, '\r', '\n')
}

// appendPrintable appends s with bytes a terminal would not show as
// themselves replaced by '?': an unknown command is quoted back to a
// client that may have typed it.
func appendPrintable(dst, s []byte) []byte {
	for _, b := range s {
		if b < ' ' || b >= 0x7f {
			b = '?'
		}
		dst = append(dst, b)
	}
	return dst
}
