package memcached

import "github.com/walnutproxy/walnut/protocols"

// Options are a memcached pool's own keys, beside those every pool has.
type Options struct {
	// StrictKeys refuses keys that protocol.txt forbids although
	// memcached accepts them (control characters and DEL), as
	// CLIENT_ERROR bad command line format.
	StrictKeys bool
}

// OptionsOf returns a pool's memcached options from
// protocols.Options.Own, the defaults when it carries none.
func OptionsOf(own any) *Options {
	if o, ok := own.(*Options); ok && o != nil {
		return o
	}
	return &Options{}
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
	return &Options{StrictKeys: t.Bool("strict_keys", false)}
}

// EncodeOptions implements protocols.OptionsEncoder.
func (driver) EncodeOptions(own any, w protocols.OptionWriter) {
	w.Set("strict_keys", OptionsOf(own).StrictKeys, "")
}
