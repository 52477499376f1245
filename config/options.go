package config

import (
	"reflect"
	"slices"
	"time"

	"github.com/walnutproxy/walnut/protocols"
)

// protocolOptions hands the pool's table to its protocol, which reads
// its own keys from it (protocols.OptionsDecoder). A key that remains is
// unknown, or another protocol's: see otherProtocolsKey.
func (d *decoder) protocolOptions(name string, driver protocols.Driver, t *table) any {
	var own any
	if dec, ok := driver.(protocols.OptionsDecoder); ok {
		own = dec.DecodeOptions(optionTable{t})
	}
	for _, k := range t.unread() {
		if other, isDefault := ownerOf(name, t.m, k); other != "" {
			t.used[k] = true
			d.otherProtocolsKey(t.key(k), k, name, other, isDefault)
		}
	}
	return own
}

// sharedBefore are the keys that every pool took before each protocol
// owned its own: walnut accepted them on any pool, with no effect on
// the others, so a file that sets them keeps working.
var sharedBefore = map[string]bool{"redis_db": true, "databases": true, "allow_flush": true, "strict_keys": true}

// otherProtocolsKey judges key, which protocol other owns, on a pool of
// protocol name. Written with its default, as walnut convert wrote every
// key of every pool, it is accepted in silence. Set otherwise, it is an
// error, but for the keys every pool once took, which are ignored with a
// warning.
func (d *decoder) otherProtocolsKey(dotted, key, name, other string, isDefault bool) {
	switch {
	case isDefault:
	case sharedBefore[key]:
		d.warnf(dotted, "ignored: only a %s pool uses it (this pool's protocol is %s)", other, name)
	default:
		d.addf(dotted, "only a %s pool takes %s (this pool's protocol is %s)", other, key, name)
	}
}

// ownerOf finds the registered protocol other than self that reads key,
// and whether value m[key] is that protocol's default, so that setting
// it has no effect.
func ownerOf(self string, m map[string]any, key string) (owner string, isDefault bool) {
	for _, name := range protocols.Names() {
		if name == self {
			continue
		}
		driver, err := protocols.Lookup(name)
		if err != nil {
			continue
		}
		dec, ok := driver.(protocols.OptionsDecoder)
		if !ok {
			continue
		}
		probe := &decoder{}
		withKey := probe.table("", map[string]any{key: m[key]})
		got := dec.DecodeOptions(optionTable{withKey})
		if !withKey.used[key] {
			continue
		}
		def := dec.DecodeOptions(optionTable{probe.table("", map[string]any{})})
		return name, len(probe.errs) == 0 && reflect.DeepEqual(got, def)
	}
	return "", false
}

// optionTable is a table as protocols read their keys from it.
type optionTable struct{ t *table }

var _ protocols.OptionTable = optionTable{}

func (o optionTable) String(key, def string) string  { return o.t.str(key, def) }
func (o optionTable) Bool(key string, def bool) bool { return o.t.boolean(key, def) }
func (o optionTable) Int(key string, def, min int) int {
	return o.t.d.atLeast(o.t, key, def, min)
}
func (o optionTable) Duration(key string, def time.Duration) time.Duration {
	return o.t.d.duration(o.t, key, def)
}
func (o optionTable) Size(key string, def int) int { return o.t.d.size(o.t, key, def) }
func (o optionTable) Strings(key string) []string  { return o.t.strings(key) }
func (o optionTable) Has(key string) bool          { _, ok := o.t.m[key]; return ok }
func (o optionTable) Errorf(key, format string, args ...any) {
	o.t.d.addf(o.t.key(key), format, args...)
}

// Table returns a subtable; its unknown keys are reported when the
// pool's are.
func (o optionTable) Table(key string) protocols.OptionTable {
	sub := o.t.subtable(key)
	if sub == nil {
		return nil
	}
	o.t.children = append(o.t.children, sub)
	return optionTable{sub}
}

func (o optionTable) Keys() []string {
	keys := make([]string, 0, len(o.t.m))
	for k := range o.t.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
