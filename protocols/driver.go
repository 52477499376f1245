package protocols

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// Driver is a wire protocol as it registers: it builds the codec of
// each pool that names it. A driver whose pools take keys of their own
// (a password, a database) also implements OptionsDecoder, and
// OptionsEncoder so that walnut convert can write them back.
type Driver interface {
	NewCodec(Options) (Codec, error)
}

// DriverFunc makes a function a Driver, for protocols with no pool
// options of their own.
type DriverFunc func(Options) (Codec, error)

// NewCodec implements Driver.
func (f DriverFunc) NewCodec(o Options) (Codec, error) { return f(o) }

// Options are what a pool gives its codec.
type Options struct {
	// MaxRequestSize bounds one request, in bytes; MaxValueSize one value
	// inside a request or response. 0 leaves it to the protocol.
	MaxRequestSize int
	MaxValueSize   int
	// Own are the protocol's own options, as its OptionsDecoder returned
	// them from the pool's table. Nil means the protocol's defaults: a
	// pool made without a configuration file, or a driver with no
	// options.
	Own any
	// Info reports walnut's figures for the pool; nil outside a proxy.
	Info func() ProxyInfo
	// HashTag is the pool's hash_tag: empty, or the two bytes between
	// which the part of a key that is hashed lies.
	HashTag string
	// Log is walnut's logger, for what the codec has to say about the
	// pool's servers; nil outside a proxy.
	Log *slog.Logger
	// Reprime asks the core to prime every shared connection of the pool
	// that is up (see Primer), as it primes a new one; nil outside a
	// proxy. It returns at once; the priming follows on the loops.
	Reprime func()
}

// OptionsDecoder is implemented by drivers whose pools take keys of
// their own. Users write them flat in the pool's table, beside the keys
// every pool has; the configuration reader hands the protocol that
// table, and a key that neither it nor the protocol reads is an error.
type OptionsDecoder interface {
	// DecodeOptions reads the protocol's keys through t, reports what is
	// wrong with them through t.Errorf, and returns the options that
	// Options.Own carries to NewCodec. It reads every key it knows
	// whatever their values, since what it reads is what is known. It
	// must not keep t, and must have no effect beyond its result: it is
	// also called on other protocols' pools, to tell their users whose
	// key they wrote.
	DecodeOptions(t OptionTable) any
}

// OptionsEncoder is implemented by drivers that can write their options
// back into a configuration file (walnut convert writes nutcracker's
// YAML as TOML).
type OptionsEncoder interface {
	// EncodeOptions writes every key of own, defaults included, so that
	// DecodeOptions reads back the same options.
	EncodeOptions(own any, w OptionWriter)
}

// OptionsDriver is what a driver whose pools take keys of their own
// implements: it builds their codec, reads the keys and writes them
// back. A protocol checks its driver against it at compile time:
//
//	var _ protocols.OptionsDriver = driver{}
type OptionsDriver interface {
	Driver
	OptionsDecoder
	OptionsEncoder
}

// NewCodecFrom turns what a protocol's constructor returns, its own
// codec type or an error, into NewCodec's result: on an error the Codec
// is nil, rather than a nil *C that a Codec holding it would hide.
//
//	func (driver) NewCodec(o protocols.Options) (protocols.Codec, error) {
//		return protocols.NewCodecFrom(New(o))
//	}
func NewCodecFrom[C Codec](c C, err error) (Codec, error) {
	if err != nil {
		return nil, err
	}
	return c, nil
}

// OptionTable is one table of a configuration file, as a protocol reads
// its keys from it. Each getter marks its key as known and returns def
// when the key is absent; a value of the wrong type is reported, naming
// the file, the table and the key, and def is returned, so that one
// reading reports every problem.
type OptionTable interface {
	String(key, def string) string
	Bool(key string, def bool) bool
	// Int reads an integer of at least min.
	Int(key string, def, min int) int
	// Duration reads "400ms", "2s".
	Duration(key string, def time.Duration) time.Duration
	// Size reads a byte count: an integer, or "16MiB".
	Size(key string, def int) int
	Strings(key string) []string
	// Has reports whether key is present, without marking it known.
	Has(key string) bool
	// Table returns the subtable key ([pools.NAME.key]), nil if absent.
	Table(key string) OptionTable
	// Keys lists the table's keys in order, for tables whose keys are
	// names the user chose.
	Keys() []string
	// Errorf reports a problem with key.
	Errorf(key, format string, args ...any)
}

// OptionWriter receives a protocol's options as key = value lines.
type OptionWriter interface {
	// Set writes one key; value is a string, bool, int, time.Duration or
	// []string. comment, if not empty, explains it.
	Set(key string, value any, comment string)
}

var (
	mu       sync.RWMutex
	registry = map[string]Driver{}
)

// Register makes a protocol available by name, for pools to select with
// protocol = "name". It panics if name is empty, d is nil, or name is
// already taken, as registering twice is a programming error.
func Register(name string, d Driver) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || d == nil {
		panic("protocols: Register with an empty name or a nil driver")
	}
	if _, dup := registry[name]; dup {
		panic("protocols: Register called twice for " + name)
	}
	registry[name] = d
}

// Lookup returns the driver registered under name.
func Lookup(name string) (Driver, error) {
	mu.RLock()
	d, ok := registry[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown protocol %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return d, nil
}

// Names lists the registered protocols in order.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
