package hash

import (
	"encoding/binary"

	"github.com/walnutproxy/walnut/distributions"
)

func init() { distributions.RegisterHash("hsieh", Hsieh) }

// Hsieh is Paul Hsieh's SuperFastHash as nutcracker (and libmemcached)
// compute it, which differs from the published one twice: the state
// starts at 0 rather than at the key length, and in a three-byte tail
// the last byte enters sign-extended (the C reads it as char) while a
// one-byte tail is read unsigned.
func Hsieh(key []byte) uint32 {
	if len(key) == 0 {
		return 0
	}
	var h uint32
	rest := len(key) & 3
	for len(key) >= 4 {
		h += uint32(binary.LittleEndian.Uint16(key))
		tmp := uint32(binary.LittleEndian.Uint16(key[2:]))<<11 ^ h
		h = h<<16 ^ tmp
		h += h >> 11
		key = key[4:]
	}
	switch rest {
	case 3:
		h += uint32(binary.LittleEndian.Uint16(key))
		h ^= h << 16
		h ^= signExtend(key[2]) << 18
		h += h >> 11
	case 2:
		h += uint32(binary.LittleEndian.Uint16(key))
		h ^= h << 11
		h += h >> 17
	case 1:
		h += uint32(key[0])
		h ^= h << 10
		h += h >> 1
	}
	h ^= h << 3
	h += h >> 5
	h ^= h << 4
	h += h >> 17
	h ^= h << 25
	h += h >> 6
	return h
}
