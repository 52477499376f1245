package redis

import (
	"github.com/walnutproxy/walnut/protocols/move"
	"github.com/walnutproxy/walnut/protocols/redis/internal/mover"
)

var _ move.Resharder = driver{}

// NewMover implements move.Resharder: walnut reshard moves a Redis
// pool's keys, in every database, with the mover of internal/mover,
// which connects with each side's redis_auth and redis_db.
func (driver) NewMover(p move.Pool) (move.Mover, error) {
	old, new := OptionsOf(p.Old), OptionsOf(p.New)
	for _, o := range []*Options{old, new} {
		if err := o.validate(); err != nil {
			return nil, err
		}
	}
	return mover.New(p, side(old), side(new)), nil
}

func side(o *Options) mover.Side { return mover.Side{Auth: o.Auth, DB: o.DB, Databases: o.Databases} }
