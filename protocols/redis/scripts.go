package redis

import (
	"bytes"
	"math/rand/v2"

	"github.com/walnutproxy/walnut/protocols"
)

// Scripts and functions called without keys (EVAL, EVALSHA, FCALL and
// their _RO forms with numkeys 0). With keys, they go to the server of
// their keys like any command. Without, there is no such server:
//
//   - A pool of one server forwards them to it: it is that server.
//   - On several servers, a call that cannot write runs on one server,
//     picked at random: one declared read-only by its shebang (#!lua
//     flags=no-writes) or its function's registration (flags =
//     {'no-writes'}), or sent with an _RO command, which Redis runs
//     read-only whatever the script. A script without keys that cannot
//     write cannot read keys either, if it keeps Redis' rule that a
//     script names in KEYS every key it touches (Redis Cluster enforces
//     it; a standalone server does not): then it answers the same on any
//     server. One that reads keys it does not name reads those of the
//     server it runs on, as a script without keys in Redis Cluster reads
//     those of the node the client sent it to.
//   - A call that may write is refused, with the reason: a script
//     without a shebang (Redis' compatibility mode, in which scripts
//     write as they please), a shebang or a function without no-writes,
//     and one flagged no-cluster, which says it needs a whole server's
//     keyspace as Redis Cluster refuses it. allow-cross-slot-keys changes
//     nothing: walnut's rule for scripts with keys (all on one server)
//     is Redis Cluster's with that flag, since walnut has servers where
//     Redis Cluster has slots.
//
// EVAL shows its flags in its body. For EVALSHA and FCALL walnut looks up
// the flags of the scripts loaded through it (SCRIPT LOAD) and of the
// functions it knows (registry.go). One it does not know goes to one
// server as EVALSHA_RO or FCALL_RO, which cannot write: a script or
// function declared read-only answers as it would, an unknown one gets
// Redis' NOSCRIPT or "Function not found", and one that may write gets
// Redis' refusal, which walnut words as its own refusal.
//
// A bad numkeys gets Redis' own error: EVAL's texts are Redis' (it checks
// numkeys first); FCALL goes to a server, which checks that the function
// exists before its numkeys.

// scriptFlags are a script's or function's flags.
type scriptFlags uint8

const (
	// sfShebang: a Redis 7 script, whose shebang declares its flags (a
	// function always is); without it, it runs in compatibility mode.
	sfShebang scriptFlags = 1 << iota
	sfNoWrites
	sfAllowOOM
	sfAllowStale
	sfNoCluster
	sfAllowCrossSlot
	// sfInvalid: a shebang walnut does not read (quotes, an unknown flag
	// or option): the server says what it makes of it.
	sfInvalid
)

var scriptFlagNames = [...]struct {
	name string
	flag scriptFlags
}{
	{"no-writes", sfNoWrites}, {"allow-oom", sfAllowOOM}, {"allow-stale", sfAllowStale},
	{"no-cluster", sfNoCluster}, {"allow-cross-slot-keys", sfAllowCrossSlot},
}

// flagNamed returns the flag of a name as Redis lists it, 0 if unknown.
func flagNamed(name []byte) scriptFlags {
	for _, f := range scriptFlagNames {
		if string(name) == f.name {
			return f.flag
		}
	}
	return 0
}

// parseShebang reads a script's flags from its first line as Redis 7.0's
// evalExtractShebangFlags does: "#!lua" then "flags=a,b" options. What
// Redis would reject, or walnut cannot read the way Redis does (quoted
// words), is sfInvalid. It does not allocate.
func parseShebang(body []byte) scriptFlags {
	if len(body) < 2 || body[0] != '#' || body[1] != '!' {
		return 0
	}
	nl := bytes.IndexByte(body, '\n')
	if nl < 0 {
		return sfInvalid // "Invalid script shebang"
	}
	line := body[:nl]
	flags, first := sfShebang, true
	for {
		var word []byte
		if word, line = nextWord(line); word == nil {
			break
		}
		if bytes.ContainsAny(word, "\"'") {
			return sfInvalid
		}
		if first {
			if string(word) != "#!lua" {
				return sfInvalid
			}
			first = false
			continue
		}
		list, ok := bytes.CutPrefix(word, []byte("flags="))
		if !ok {
			return sfInvalid
		}
		// sdssplitlen of an empty string has no parts: no flag.
		for len(list) > 0 {
			name := list
			if i := bytes.IndexByte(list, ','); i >= 0 {
				name, list = list[:i], list[i+1:]
				if len(list) == 0 {
					return sfInvalid // a trailing comma names an empty flag
				}
			} else {
				list = nil
			}
			f := flagNamed(name)
			if f == 0 {
				return sfInvalid
			}
			flags |= f
		}
	}
	if first {
		return sfInvalid
	}
	return flags
}

// nextWord splits the first word off line, as sdssplitargs does words
// without quotes; word is nil when there is none.
func nextWord(line []byte) (word, rest []byte) {
	for len(line) > 0 && isSpace(line[0]) {
		line = line[1:]
	}
	if len(line) == 0 {
		return nil, nil
	}
	end := 0
	for end < len(line) && !isSpace(line[end]) {
		end++
	}
	return line[:end], line[end:]
}

// The script commands, by commandTable index, and their read-only forms.
var (
	cmdEval    = find("eval")
	cmdEvalSha = find("evalsha")
	cmdFcall   = find("fcall")
	roNames    = map[int][]byte{cmdEval: []byte("EVAL_RO"), cmdEvalSha: []byte("EVALSHA_RO"), cmdFcall: []byte("FCALL_RO")}
)

// scriptHook reports whether command cmd is a script or function call.
func scriptHook(cmd uint16) bool {
	h := policies[cmd].hook
	return h == hookEval || h == hookFcall
}

// Why a call without keys is refused.
const (
	whyNoShebang = " without keys: the script may write; declare it read-only (#!lua flags=no-writes, or an _RO command) or pass the keys it uses"
	whyScriptRW  = " without keys: the script may write (its shebang has no flags=no-writes); pass the keys it uses"
	whyFuncRW    = " without keys: the function may write (it is not registered with flags={'no-writes'}); pass the keys it uses"
	whyNoCluster = " without keys: its flags say no-cluster, which needs one server's whole keyspace"
	whyWrote     = " without keys: walnut runs a script without keys read-only on one server, and this one writes; pass the keys it writes"
)

// numkeysCheck validates the numkeys of EVAL and FCALL (argument 2) with
// Redis' texts. It answers req, or sends it to a server that will, and
// returns false when route must not go on with its keys.
func numkeysCheck(req *protocols.Request, p *policy) bool {
	n, ok := parseInt(req.Args[2])
	switch {
	case p.hook == hookFcall && (!ok || n < 0 || n > int64(len(req.Args)-3)):
		// Redis looks the function up first: "Function not found" wins
		// over a bad numkeys. Any server answers it (routeKeyless).
		req.Kind = protocols.Targeted
	case !ok:
		local(req, "-ERR value is not an integer or out of range\r\n")
	case n > int64(len(req.Args)-3):
		local(req, "-ERR Number of keys can't be greater than number of args\r\n")
	case n < 0:
		local(req, "-ERR Number of keys can't be negative\r\n")
	case n == 0:
		req.Kind = protocols.Targeted // routeKeyless decides
	default:
		return true
	}
	return false
}

// routeKeyless picks the server of a script or function call route made
// Targeted (no keys, or a numkeys the server rejects), or refuses it.
func (c *Codec) routeKeyless(req *protocols.Request) {
	req.Target = 0
	if req.Servers == 1 {
		return // the pool is that server
	}
	if req.Servers > 1 {
		req.Target = rand.IntN(req.Servers)
	}
	if n, ok := parseInt(req.Args[2]); !ok || n != 0 {
		return // the server rejects it, without running anything
	}
	if commandTable[req.Cmd].flags&flagReadonly != 0 {
		return // an _RO command: Redis runs it read-only
	}
	var f scriptFlags
	known := true
	switch int(req.Cmd) {
	case cmdEval:
		f = parseShebang(req.Args[1])
	case cmdEvalSha:
		f, known = c.fn.scriptFlags(req.Args[1])
	default:
		f, known = c.fn.functionFlags(req.Args[1])
	}
	p := &policies[req.Cmd]
	switch {
	case !known || f&sfInvalid != 0:
		// The _RO form: whatever it is, it cannot write.
		req.Flags |= reqRewrite
	case f&sfShebang == 0:
		localError(req, "walnut cannot route ", p.upper, whyNoShebang)
	case f&sfNoCluster != 0:
		localError(req, "walnut cannot route ", p.upper, whyNoCluster)
	case f&sfNoWrites == 0 && p.hook == hookFcall:
		localError(req, "walnut cannot route ", p.upper, whyFuncRW)
	case f&sfNoWrites == 0:
		localError(req, "walnut cannot route ", p.upper, whyScriptRW)
	}
}

// appendReadOnly appends a call without keys as its _RO form.
func appendReadOnly(dst []byte, req *protocols.Request) []byte {
	name, ok := roNames[int(req.Cmd)]
	if !ok {
		name = req.Args[0]
	}
	dst = appendCount(dst, '*', len(req.Args))
	dst = appendBulk(dst, name)
	for _, a := range req.Args[1:] {
		dst = appendBulk(dst, a)
	}
	return dst
}

// Redis' refusals of a write under an _RO command.
var (
	replyROWriteFlag = []byte("-ERR Can not execute a script with write flag using *_ro command.\r\n")
	replyROWrote     = []byte("-ERR Write commands are not allowed from read-only scripts")
)

// replyKeyless answers a call without keys with its server's reply, as
// it is, but for Redis' refusal of a write under the _RO form walnut
// sent in its place, which is walnut's refusal.
func replyKeyless(dst []byte, req *protocols.Request, parts []protocols.Part) []byte {
	if len(parts) == 0 {
		return append(dst, replyNoServer...)
	}
	p := &parts[0]
	if p.Err != nil {
		return appendErrText(append(dst, "-ERR "...), p.Err.Error())
	}
	if req.Flags&reqRewrite != 0 {
		pol := &policies[req.Cmd]
		switch {
		case bytes.Equal(p.Resp, replyROWriteFlag) && pol.hook == hookFcall:
			return appendErrText(append(append(dst, "-ERR walnut cannot route "...), pol.upper...), whyFuncRW)
		case bytes.Equal(p.Resp, replyROWriteFlag):
			return appendErrText(append(append(dst, "-ERR walnut cannot route "...), pol.upper...), whyScriptRW)
		case bytes.HasPrefix(p.Resp, replyROWrote):
			dst = append(append(dst, "-ERR walnut cannot route "...), pol.upper...)
			dst = append(dst, whyWrote+" ("...)
			dst = appendSanitized(dst, bytes.TrimRight(p.Resp[5:], "\r\n"), 512)
			return append(dst, ")\r\n"...)
		}
	}
	return append(dst, p.Resp...)
}
