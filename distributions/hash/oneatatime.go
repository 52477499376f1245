package hash

import "github.com/walnutproxy/walnut/distributions"

func init() { distributions.RegisterHash("one_at_a_time", OneAtATime) }

// OneAtATime is Jenkins' one-at-a-time hash as nutcracker computes it:
// bytes enter sign-extended, because the C reads them as char.
func OneAtATime(key []byte) uint32 {
	var h uint32
	for _, b := range key {
		h += signExtend(b)
		h += h << 10
		h ^= h >> 6
	}
	h += h << 3
	h ^= h >> 11
	h += h << 15
	return h
}

// signExtend widens a key byte the way x86-64 C widens a char: a byte of
// 0x80 or more becomes 0xffffff80 and up, not 0x80.
func signExtend(b byte) uint32 { return uint32(int32(int8(b))) }
