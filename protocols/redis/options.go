package redis

import (
	"fmt"

	"github.com/walnutproxy/walnut/protocols"
)

// Options are a Redis pool's own keys, beside those every pool has.
type Options struct {
	// Auth is the password walnut gives every server (redis_auth).
	// nutcracker's redis_auth also requires it of clients: its YAML sets
	// Password too.
	Auth string
	// Password, when set, must be given by every client (AUTH, HELLO ...
	// AUTH) before anything else.
	Password string
	// DB is the database walnut selects on every server connection, and
	// the one a client is in until it sends SELECT (redis_db).
	DB int
	// Databases is how many databases the servers have (Redis'
	// databases setting): SELECT takes 0 to Databases-1.
	Databases int
	// AllowFlush lets clients send FLUSHDB and FLUSHALL, which empty
	// every server of the pool.
	AllowFlush bool
}

// DefaultDatabases is Redis' own default.
const DefaultDatabases = 16

// DefaultOptions are the options of a pool that sets none.
func DefaultOptions() *Options { return &Options{Databases: DefaultDatabases} }

// OptionsOf returns a pool's Redis options from protocols.Options.Own,
// the defaults when it carries none.
func OptionsOf(own any) *Options {
	if o, ok := own.(*Options); ok && o != nil {
		return o
	}
	return DefaultOptions()
}

// driver is the protocol as registered: the codec and its options.
type driver struct{}

var _ protocols.OptionsDriver = driver{}

// NewCodec implements protocols.Driver.
func (driver) NewCodec(o protocols.Options) (protocols.Codec, error) {
	return protocols.NewCodecFrom(New(o))
}

// DecodeOptions implements protocols.OptionsDecoder.
func (driver) DecodeOptions(t protocols.OptionTable) any {
	o := &Options{
		Auth:       t.String("redis_auth", ""),
		Password:   t.String("password", ""),
		Databases:  t.Int("databases", DefaultDatabases, 1),
		DB:         t.Int("redis_db", 0, 0),
		AllowFlush: t.Bool("allow_flush", false),
	}
	if o.DB >= o.Databases {
		t.Errorf("redis_db", "want a database below databases (%d), got %d", o.Databases, o.DB)
	}
	return o
}

// EncodeOptions implements protocols.OptionsEncoder.
func (driver) EncodeOptions(own any, w protocols.OptionWriter) {
	o := OptionsOf(own)
	w.Set("redis_auth", o.Auth, "")
	w.Set("password", o.Password, "clients' password; nutcracker's redis_auth is both")
	w.Set("redis_db", o.DB, "")
	w.Set("databases", o.Databases, "")
	w.Set("allow_flush", o.AllowFlush, "")
}

// validate checks options made in code rather than decoded.
func (o *Options) validate() error {
	if o.Databases <= 0 {
		return fmt.Errorf("redis: databases must be at least 1, got %d", o.Databases)
	}
	if o.DB < 0 || o.DB >= o.Databases {
		return fmt.Errorf("redis: redis_db %d is out of the range of databases (0 to %d)", o.DB, o.Databases-1)
	}
	return nil
}
