package redis

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// The pool's functions and scripts. A Redis server keeps function
// libraries (FUNCTION LOAD) and scripts (SCRIPT LOAD) beside its keys,
// and a pool must hold them on every server, since FCALL and EVALSHA go
// to whichever server owns their keys. walnut loads them on every server
// when a client loads them (functions.go), and remembers them here, so
// that a server that has not got them, because it restarted, was added,
// or was out of the routing table when they were loaded, gets them
// again when a shared connection to it opens or it comes back (Prime,
// prime.go).
//
// walnut knows the libraries loaded, deleted, flushed and restored
// through it, and those the servers had when it started: the first
// connection to each server asks it FUNCTION LIST WITHCODE, and what it
// lists that walnut does not know yet is remembered, as loaded elsewhere
// (reloaded without REPLACE, so that a server that has another version
// keeps its own). A library deleted through walnut is not learned again
// from a server that still has it, and after a FUNCTION FLUSH or
// RESTORE through walnut nothing is learned from the servers any more:
// walnut's list is then the pool's.
//
// Scripts cannot be listed: walnut knows those loaded through it with
// SCRIPT LOAD, at most maxScripts of them and maxScriptBytes in all.
// Past that a script is loaded on every server as before but not
// remembered: a server that restarts then answers EVALSHA NOSCRIPT for
// it, on which clients send EVAL (go-redis' Script.Run does).
//
// The registry also keeps each function's flags and each script's, for
// routing those called without keys (scripts.go).

const (
	maxScripts     = 1000
	maxScriptBytes = 1 << 20
	// maxLibraryBytes bounds the code walnut keeps: every new server
	// connection sends it all.
	maxLibraryBytes = 16 << 20
	// maxGone bounds the names of deleted libraries kept from learning.
	maxGone = 4096
)

// library is a function library the pool keeps on every server.
type library struct {
	name string
	code []byte
	// replace: loaded through walnut, so a server gets this version
	// (FUNCTION LOAD REPLACE); else learned from a server, and a server
	// that has another version keeps it.
	replace bool
	funcs   []string
}

// script is a script loaded through walnut.
type script struct {
	body  []byte
	flags scriptFlags
}

type registry struct {
	mu       sync.RWMutex
	libs     map[string]*library
	libBytes int
	funcs    map[string]scriptFlags // every library's functions, by name
	scripts  map[[40]byte]*script   // by SHA1, in lower-case hex
	order    [][40]byte             // scripts in the order they were loaded
	sBytes   int
	gone     map[string]bool // deleted through walnut: not learned again
	settled  bool            // flushed or restored through walnut: nothing more is learned
	taught   map[string]bool // servers whose libraries were learned
	prime    []byte          // every library's and script's load, cached
	primeN   int
	primeOK  bool

	reloads, reloadErrors, dropped atomic.Uint64
	log                            *slog.Logger
	reprime                        func()
}

func newRegistry(log *slog.Logger, reprime func()) *registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &registry{libs: map[string]*library{}, funcs: map[string]scriptFlags{}, scripts: map[[40]byte]*script{},
		gone: map[string]bool{}, taught: map[string]bool{}, log: log, reprime: reprime}
}

// functionFlags returns the flags of the function name, if known.
func (r *registry) functionFlags(name []byte) (scriptFlags, bool) {
	if r == nil {
		return 0, false
	}
	r.mu.RLock()
	f, ok := r.funcs[string(name)]
	r.mu.RUnlock()
	return f, ok
}

// shaKey is a script's SHA1 as a map key: Redis takes it in any case.
func shaKey(sha []byte) (k [40]byte, ok bool) {
	if len(sha) != 40 {
		return k, false
	}
	for i, c := range sha {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		k[i] = c
	}
	return k, true
}

// scriptFlags returns the flags of the script with SHA1 sha, if walnut
// knows it.
func (r *registry) scriptFlags(sha []byte) (scriptFlags, bool) {
	k, ok := shaKey(sha)
	if !ok || r == nil {
		return 0, false
	}
	r.mu.RLock()
	s := r.scripts[k]
	r.mu.RUnlock()
	if s == nil {
		return 0, false
	}
	return s.flags, true
}

// libraryEntry reads one library of a FUNCTION LIST reply: its name,
// code (nil without WITHCODE) and functions with their flags.
func libraryEntry(v *value) (name string, code []byte, funcs map[string]scriptFlags, ok bool) {
	n, ok1 := v.field("library_name")
	fs, ok2 := v.field("functions")
	if !ok1 || !ok2 {
		return "", nil, nil, false
	}
	if c, ok := v.field("library_code"); ok && !c.null {
		code = c.s
	}
	funcs = map[string]scriptFlags{}
	for i := range fs.a {
		f := &fs.a[i]
		fn, ok := f.field("name")
		if !ok {
			return "", nil, nil, false
		}
		flags := sfShebang
		if fl, ok := f.field("flags"); ok {
			for j := range fl.a {
				flags |= flagNamed(fl.a[j].s)
			}
		}
		funcs[fn.str()] = flags
	}
	return n.str(), code, funcs, true
}

// setLibrary remembers lib, replacing what was known under its name.
// Called with r.mu held.
func (r *registry) setLibrary(lib *library, funcs map[string]scriptFlags) bool {
	old := r.libs[lib.name]
	size := r.libBytes + len(lib.code)
	if old != nil {
		size -= len(old.code)
	}
	if size > maxLibraryBytes {
		r.dropped.Add(1)
		r.log.Warn("function library not remembered: the pool's libraries exceed walnut's bound; a server that restarts will not get it back",
			"library", lib.name, "bound", maxLibraryBytes)
		return false
	}
	r.dropLibrary(lib.name)
	r.libBytes = size
	for f := range funcs {
		lib.funcs = append(lib.funcs, f)
		r.funcs[f] = funcs[f]
	}
	r.libs[lib.name] = lib
	delete(r.gone, lib.name)
	r.primeOK = false
	return true
}

// dropLibrary forgets a library and its functions. Called with r.mu
// held.
func (r *registry) dropLibrary(name string) {
	old := r.libs[name]
	if old == nil {
		return
	}
	for _, f := range old.funcs {
		delete(r.funcs, f)
	}
	r.libBytes -= len(old.code)
	delete(r.libs, name)
	r.primeOK = false
}

// loaded remembers a library every server loaded through walnut: its
// code, and its functions from list, the servers' FUNCTION LIST
// LIBRARYNAME.
func (r *registry) loaded(name, code, list []byte) {
	r.mu.RLock()
	old := r.libs[string(name)]
	known := old != nil && old.replace && bytes.Equal(old.code, code)
	r.mu.RUnlock()
	if known {
		return // loaded again (REPLACE), as it was
	}
	funcs := map[string]scriptFlags{}
	l, _ := parseValue(list)
	for i := range l.a {
		n, _, fs, ok := libraryEntry(&l.a[i])
		if ok && n == string(name) {
			funcs = fs
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setLibrary(&library{name: string(name), code: bytes.Clone(code), replace: true}, funcs)
}

// deleted forgets a library deleted through walnut.
func (r *registry) deleted(name []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.libs[string(name)] == nil && r.gone[string(name)] {
		return
	}
	r.dropLibrary(string(name))
	if len(r.gone) < maxGone {
		r.gone[string(name)] = true
	}
}

// flushed forgets every library: FUNCTION FLUSH through walnut.
func (r *registry) flushed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.libs {
		r.dropLibrary(name)
	}
	r.settled = true
}

// restored makes the libraries a server lists after FUNCTION RESTORE
// through walnut the pool's.
func (r *registry) restored(list *value) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.libs {
		r.dropLibrary(name)
	}
	r.settled = true
	for i := range list.a {
		if name, code, funcs, ok := libraryEntry(&list.a[i]); ok && code != nil {
			r.setLibrary(&library{name: name, code: bytes.Clone(code), replace: true}, funcs)
		}
	}
}

// learn remembers the libraries server lists (FUNCTION LIST WITHCODE)
// that walnut does not know, unless deleted or flushed through walnut
// since it started. It reports whether it learned any.
func (r *registry) learn(server string, list *value) bool {
	r.mu.Lock()
	r.taught[server] = true
	added := false
	for i := range list.a {
		name, code, funcs, ok := libraryEntry(&list.a[i])
		if !ok || code == nil || r.settled || r.gone[name] {
			continue
		}
		if old := r.libs[name]; old != nil {
			if !bytes.Equal(old.code, code) {
				r.log.Warn("a server holds another version of a function library than walnut knows; it keeps its own",
					"server", server, "library", name)
			}
			continue
		}
		if r.setLibrary(&library{name: name, code: bytes.Clone(code)}, funcs) {
			added = true
		}
	}
	r.mu.Unlock()
	return added
}

// scriptLoaded remembers a script every server loaded with SCRIPT LOAD,
// within maxScripts and maxScriptBytes.
func (r *registry) scriptLoaded(body []byte) {
	sum := sha1.Sum(body)
	var k [40]byte
	hex.Encode(k[:], sum[:])
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.scripts[k] != nil {
		return
	}
	if len(r.scripts) >= maxScripts || r.sBytes+len(body) > maxScriptBytes {
		if r.dropped.Add(1) == 1 {
			r.log.Warn("script not remembered: walnut remembers at most "+strconv.Itoa(maxScripts)+" scripts and "+
				strconv.Itoa(maxScriptBytes>>20)+" MiB of them; a server that restarts answers EVALSHA NOSCRIPT for the others",
				"sha", string(k[:]))
		}
		return
	}
	r.scripts[k] = &script{body: bytes.Clone(body), flags: parseShebang(body)}
	r.order = append(r.order, k)
	r.sBytes += len(body)
	r.primeOK = false
}

// scriptsFlushed forgets every script: SCRIPT FLUSH through walnut.
func (r *registry) scriptsFlushed() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.scripts)
	r.order, r.sBytes = nil, 0
	r.primeOK = false
}

// Requests of a priming.
var (
	functionLoadCmd    = []byte("FUNCTION")
	loadArg            = []byte("LOAD")
	replaceArg         = []byte("REPLACE")
	scriptCmd          = []byte("SCRIPT")
	listWithCode       = []byte("*3\r\n$8\r\nFUNCTION\r\n$4\r\nLIST\r\n$8\r\nWITHCODE\r\n")
	replyLibraryExists = []byte("-ERR Library '")
	replyNoFunction    = []byte("-ERR unknown command 'FUNCTION'")
)

// primeFor returns the requests that bring server up to date: every
// library's FUNCTION LOAD, every script's SCRIPT LOAD and, the first
// time, FUNCTION LIST WITHCODE to learn what it has.
func (r *registry) primeFor(server string) ([]byte, int) {
	if r == nil {
		return nil, 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.primeOK {
		// A new array: what an earlier call returned may still be read.
		r.prime, r.primeN = nil, 0
		names := make([]string, 0, len(r.libs))
		for name := range r.libs {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			lib := r.libs[name]
			if lib.replace {
				r.prime = appendArgs(r.prime, functionLoadCmd, loadArg, replaceArg, lib.code)
			} else {
				r.prime = appendArgs(r.prime, functionLoadCmd, loadArg, lib.code)
			}
			r.primeN++
		}
		for _, k := range r.order {
			r.prime = appendArgs(r.prime, scriptCmd, loadArg, r.scripts[k].body)
			r.primeN++
		}
		r.primeOK = true
	}
	if r.taught[server] || r.settled {
		return r.prime, r.primeN
	}
	return append(r.prime[:len(r.prime):len(r.prime)], listWithCode...), r.primeN + 1
}

// primeReply takes a reply to a priming: a load (a library's name, a
// script's SHA1, or why not) or the list to learn from.
func (r *registry) primeReply(server string, resp []byte) {
	if r == nil {
		return
	}
	switch {
	case len(resp) == 0:
	case resp[0] == '*':
		if v, ok := parseValue(resp); ok && r.learn(server, &v) && r.reprime != nil {
			// The other servers may lack what this one had.
			r.reprime()
		}
	case resp[0] == '$':
		r.reloads.Add(1)
	case bytes.HasPrefix(resp, replyLibraryExists):
		// A library learned from a server, which this one has in some
		// version already: it keeps it.
	case bytes.HasPrefix(resp, replyNoFunction):
		// A server without FUNCTION (before Redis 7): nothing to learn
		// from it, nor to load on it.
		r.mu.Lock()
		first := !r.taught[server]
		r.taught[server] = true
		r.mu.Unlock()
		if first {
			r.log.Info("a server does not know FUNCTION: walnut keeps no function libraries on it", "server", server)
		}
	default:
		r.reloadErrors.Add(1)
		r.log.Warn("a server refused to load a function library or script again, or to list its libraries",
			"server", server, "reply", string(bytes.TrimRight(resp, "\r\n")))
	}
}

// counts returns how many libraries and scripts walnut remembers.
func (r *registry) counts() (libs, scripts int) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.libs), len(r.scripts)
}

// appendArgs appends a command of the given arguments.
func appendArgs(dst []byte, args ...[]byte) []byte {
	dst = appendCount(dst, '*', len(args))
	for _, a := range args {
		dst = appendBulk(dst, a)
	}
	return dst
}

// appendInfo appends INFO's lines about the pool's functions and scripts.
func (r *registry) appendInfo(b []byte) []byte {
	if r == nil {
		return b
	}
	libs, scripts := r.counts()
	line := func(k string, v uint64) {
		b = append(b, k...)
		b = append(b, ':')
		b = strconv.AppendUint(b, v, 10)
		b = append(b, "\r\n"...)
	}
	line("walnut_function_libraries", uint64(libs))
	line("walnut_scripts_remembered", uint64(scripts))
	line("walnut_reloads", r.reloads.Load())
	line("walnut_reload_failures", r.reloadErrors.Load())
	line("walnut_not_remembered", r.dropped.Load())
	return b
}
