package kvline

import (
	"fmt"

	"github.com/walnutproxy/walnut/protocols"
)

// Options are a kvline pool's own keys, beside those every pool has.
type Options struct {
	// Greeting is the name walnut says HELLO with on every new backend
	// connection, and answers PING with.
	Greeting string
}

// DefaultGreeting is the greeting of a pool that sets none.
const DefaultGreeting = "walnut"

// maxGreeting bounds the greeting: it goes on a HELLO line, and a
// backend should not have to guess how long a name may be.
const maxGreeting = 64

// OptionsOf returns a pool's kvline options from protocols.Options.Own,
// the defaults when it carries none (a pool made in code).
func OptionsOf(own any) *Options {
	if o, ok := own.(*Options); ok && o != nil {
		return o
	}
	return &Options{Greeting: DefaultGreeting}
}

// checkGreeting says what is wrong with a greeting, if anything. It
// becomes one word of a HELLO line, so it may hold no space or control
// character; the narrower set keeps it readable in logs and INFO.
func checkGreeting(g string) error {
	if len(g) == 0 || len(g) > maxGreeting {
		return fmt.Errorf("want 1 to %d letters, digits, '.', '_' or '-', got %q", maxGreeting, g)
	}
	for i := 0; i < len(g); i++ {
		if !greetingBytes[g[i]] {
			return fmt.Errorf("want only letters, digits, '.', '_' or '-' (it is sent as one word of a HELLO line), got %q", g)
		}
	}
	return nil
}

var greetingBytes = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	return t
}()

// driver is the protocol as it registers: it builds the codec of each
// kvline pool and reads the pool's own keys.
type driver struct{}

var _ protocols.OptionsDriver = driver{}

// NewCodec implements protocols.Driver.
func (driver) NewCodec(o protocols.Options) (protocols.Codec, error) {
	return protocols.NewCodecFrom(New(o))
}

// DecodeOptions implements protocols.OptionsDecoder. The configuration
// reader calls it on every pool, kvline or not, to learn which keys are
// kvline's: it reads greeting whatever its value, and reports a bad one
// through t, which names the file, the pool and the key.
func (driver) DecodeOptions(t protocols.OptionTable) any {
	o := &Options{Greeting: t.String("greeting", DefaultGreeting)}
	if err := checkGreeting(o.Greeting); err != nil {
		t.Errorf("greeting", "%v", err)
	}
	return o
}

// EncodeOptions implements protocols.OptionsEncoder, for walnut convert,
// which writes every key of every pool.
func (driver) EncodeOptions(own any, w protocols.OptionWriter) {
	w.Set("greeting", OptionsOf(own).Greeting, "the name walnut says HELLO with to backends, and answers PING with")
}
