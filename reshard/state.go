package reshard

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// State is the state file: how far a reshard has gone, so that a run
// interrupted (Ctrl-C, a crash, a lost connection) resumes where it
// stopped. It is written after every page of keys an old server gave
// (and fully handled), by writing a new file and renaming it over the
// old one, so that it is always whole.
type State struct {
	Version int                   `json:"version"`
	From    string                `json:"from"`
	To      string                `json:"to"`
	Updated time.Time             `json:"updated"`
	Pools   map[string]*PoolState `json:"pools"`

	path string
	mu   sync.Mutex
}

// PoolState is one pool's progress.
type PoolState struct {
	// Fingerprint identifies both placements: a state file is only
	// resumed by the same reshard.
	Fingerprint string `json:"fingerprint"`
	// Servers by old server and namespace, as the protocol's mover names
	// them (Redis: the address, and /dbN when the database is not 0):
	// each namespace is scanned on its own.
	Servers map[string]*ServerState `json:"servers"`
}

// ServerState is one old server's progress.
type ServerState struct {
	// Cursor is the mover's cursor up to which every key is done (Redis:
	// SCAN's); empty at the start. memcached servers have none: their
	// key dump cannot resume, and starts again (keys already moved are
	// no longer on the server).
	Cursor string `json:"cursor,omitempty"`
	// Done is set once every key of the server is handled.
	Done bool `json:"done"`
	// Scanned, Moved and Bytes add up every run's keys handled and
	// copies, for the record and for progress after a resume.
	Scanned int64 `json:"scanned"`
	Moved   int64 `json:"moved"`
	Bytes   int64 `json:"bytes"`
}

const stateVersion = 1

// DefaultStatePath is where the state of a reshard to the configuration
// at to is kept unless told otherwise: beside it.
func DefaultStatePath(to string) string {
	return filepath.Join(filepath.Dir(to), filepath.Base(to)+".reshard.json")
}

// LoadState reads the state file at path, or returns an empty state if
// there is none.
func LoadState(path, from, to string) (*State, error) {
	s := &State{Version: stateVersion, From: from, To: to, Pools: map[string]*PoolState{}, path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%s: state file version %d, want %d", path, s.Version, stateVersion)
	}
	if s.Pools == nil {
		s.Pools = map[string]*PoolState{}
	}
	s.path = path
	return s, nil
}

// pool returns the state of a pool with the given fingerprint, made
// fresh if the file has none; an error if the file was written for
// another reshard of that pool.
func (s *State) pool(name, fingerprint string) (*PoolState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := s.Pools[name]
	switch {
	case ps == nil:
		ps = &PoolState{Fingerprint: fingerprint, Servers: map[string]*ServerState{}}
		s.Pools[name] = ps
	case ps.Fingerprint != fingerprint:
		return nil, fmt.Errorf("state file %s was written by a reshard of pool %s between other configurations; "+
			"remove it (or pass another --state) to start this one", s.path, name)
	}
	return ps, nil
}

// server returns an old server's progress.
func (s *State) server(ps *PoolState, id string) ServerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := ps.Servers[id]; ss != nil {
		return *ss
	}
	return ServerState{}
}

// restart forgets a pool whose every server is done, for a new pass.
func (s *State) restart(ps *PoolState, ids []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if ss := ps.Servers[id]; ss == nil || !ss.Done {
			return false
		}
	}
	ps.Servers = map[string]*ServerState{}
	return true
}

// advance records that every key of server id up to cursor is done,
// with scanned keys handled and moved keys of bytes bytes since the last
// record, and writes the file.
func (s *State) advance(ps *PoolState, id, cursor string, done bool, scanned, moved, bytes int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := ps.Servers[id]
	if ss == nil {
		ss = &ServerState{}
		ps.Servers[id] = ss
	}
	ss.Cursor, ss.Done = cursor, done
	ss.Scanned += scanned
	ss.Moved += moved
	ss.Bytes += bytes
	return s.saveLocked()
}

// Save writes the file.
func (s *State) Save() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveLocked()
}

func (s *State) saveLocked() error {
	if s.path == "" {
		return nil
	}
	s.Updated = time.Now().UTC().Truncate(time.Second)
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}
