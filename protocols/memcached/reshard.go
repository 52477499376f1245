package memcached

import (
	"github.com/walnutproxy/walnut/protocols/memcached/internal/mover"
	"github.com/walnutproxy/walnut/protocols/move"
)

var _ move.Resharder = driver{}

// NewMover implements move.Resharder: walnut reshard moves a memcached
// pool's keys with the mover of internal/mover. None of the pool's own
// options bears on it.
func (driver) NewMover(p move.Pool) (move.Mover, error) { return mover.New(p), nil }
