package hash

import (
	"encoding/binary"

	"github.com/walnutproxy/walnut/distributions"
)

func init() { distributions.RegisterHash("murmur", Murmur) }

// Murmur is MurmurHash2 (32-bit, little-endian reads) with the seed that
// libmemcached chose and nutcracker kept: 0xdeadbeef times the key
// length, so the seed is not a constant.
func Murmur(key []byte) uint32 {
	const m = 0x5bd1e995
	n := uint32(len(key))
	h := 0xdeadbeef*n ^ n
	for len(key) >= 4 {
		k := binary.LittleEndian.Uint32(key)
		k *= m
		k ^= k >> 24
		k *= m
		h *= m
		h ^= k
		key = key[4:]
	}
	switch len(key) {
	case 3:
		h ^= uint32(key[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(key[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(key[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
