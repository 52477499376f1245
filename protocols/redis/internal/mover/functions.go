package mover

import (
	"context"
	"fmt"
	"strings"
)

// Function libraries. A Redis pool keeps the same libraries on every
// server, since FCALL runs on the server of its keys: before the keys
// of an old server move, every new server gets the libraries the old server
// has, so that FCALL finds its function wherever its keys land.
//
// A library goes as its code, with FUNCTION LOAD, rather than with
// FUNCTION DUMP and RESTORE: RESTORE takes a whole dump or nothing (its
// APPEND refuses it all for one library the new server has already, its
// REPLACE would replace a version the new server has), where a library
// at a time copies what the new server lacks and leaves the rest. A new
// server that has a library already in the same version is left alone;
// one that has another version keeps it, and the run says so: walnut
// serves the new placement during the reshard, so that version may be
// the newer, and only the user can tell (FUNCTION LOAD REPLACE through
// walnut puts every server in step).

// lib is a library as FUNCTION LIST WITHCODE lists it.
type lib struct{ name, code string }

// listLibraries lists the libraries of the server on conn; none on a
// server without functions (before Redis 7).
func listLibraries(conn *redisConn) ([]lib, error) {
	v, err := conn.do("FUNCTION", "LIST", "WITHCODE")
	if err != nil {
		return nil, err
	}
	if v.isErr() {
		if strings.HasPrefix(string(v.s), "ERR unknown command") {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: FUNCTION LIST: %s", conn.Addr, v.s)
	}
	var out []lib
	for _, e := range v.a {
		var l lib
		for i := 0; i+1 < len(e.a); i += 2 {
			switch string(e.a[i].s) {
			case "library_name":
				l.name = string(e.a[i+1].s)
			case "library_code":
				l.code = string(e.a[i+1].s)
			}
		}
		if l.name == "" || l.code == "" {
			return nil, fmt.Errorf("%s: FUNCTION LIST WITHCODE: a library without a name or code", conn.Addr)
		}
		out = append(out, l)
	}
	return out, nil
}

// copyFunctions gives every new server the libraries of the old server
// on conn that it lacks. Old servers run at once: one copies at a time,
// so that two never load the same library on a new server together.
func (s *server) copyFunctions(ctx context.Context, conn *redisConn) error {
	libs, err := listLibraries(conn)
	if err != nil || len(libs) == 0 {
		return err
	}
	s.fnMu.Lock()
	defer s.fnMu.Unlock()
	for _, addr := range s.pool.NewServers {
		if addr == s.job.Server() {
			continue
		}
		if err := s.copyFunctionsTo(ctx, conn.Addr, addr, libs); err != nil {
			return err
		}
	}
	return nil
}

func (s *server) copyFunctionsTo(ctx context.Context, from, addr string, libs []lib) error {
	dst, err := dialRedis(ctx, addr, s.new.Auth, 0, s.set.Timeout)
	if err != nil {
		return fmt.Errorf("new server: %w", err)
	}
	defer dst.Close()
	have, err := listLibraries(dst)
	if err != nil {
		return fmt.Errorf("new server: %w", err)
	}
	codes := map[string]string{}
	for _, l := range have {
		codes[l.name] = l.code
	}
	for _, l := range libs {
		code, ok := codes[l.name]
		switch {
		case ok && code == l.code:
			continue
		case ok:
			s.job.Notef("function library %q: %s has another version than %s; left as it is (FUNCTION LOAD REPLACE through walnut puts every server in step)",
				l.name, addr, from)
			continue
		case s.set.DryRun:
			s.job.Notef("function library %q would be copied from %s to %s", l.name, from, addr)
			continue
		}
		v, err := dst.do("FUNCTION", "LOAD", l.code)
		if err != nil {
			return fmt.Errorf("new server: %w", err)
		}
		if v.isErr() {
			// A function of it is in another library there, say: its keys
			// still move, and FCALL of it finds the new server's.
			s.job.Notef("function library %q: %s refused it (%s); FCALL of its functions on keys that move there may fail",
				l.name, addr, v.s)
		}
	}
	return nil
}
