package hash

import "github.com/walnutproxy/walnut/distributions"

func init() {
	distributions.RegisterHash("fnv1_64", FNV1_64)
	distributions.RegisterHash("fnv1a_64", FNV1a64)
	distributions.RegisterHash("fnv1_32", FNV1_32)
	distributions.RegisterHash("fnv1a_32", FNV1a32)
}

const (
	fnv64Offset = 0xcbf29ce484222325
	fnv64Prime  = 0x100000001b3
	fnv32Offset = 2166136261
	fnv32Prime  = 16777619
)

// FNV1_64 is 64-bit FNV-1 truncated to its low 32 bits. Bytes enter
// sign-extended to 64 bits, so keys with bytes of 0x80 or more differ
// from hash/fnv.
func FNV1_64(key []byte) uint32 {
	h := uint64(fnv64Offset)
	for _, b := range key {
		h *= fnv64Prime
		h ^= uint64(int64(int8(b)))
	}
	return uint32(h)
}

// FNV1a64 is not 64-bit FNV-1a: nutcracker runs FNV-1a in 32 bits with
// the 64-bit offset basis and prime truncated to 32 bits (0x84222325 and
// 0x1b3). This is the pool default, so it must be exactly that.
func FNV1a64(key []byte) uint32 {
	h := uint32(fnv64Offset & 0xffffffff)
	for _, b := range key {
		h ^= signExtend(b)
		h *= uint32(fnv64Prime & 0xffffffff)
	}
	return h
}

// FNV1_32 is 32-bit FNV-1, with bytes entering sign-extended.
func FNV1_32(key []byte) uint32 {
	h := uint32(fnv32Offset)
	for _, b := range key {
		h *= fnv32Prime
		h ^= signExtend(b)
	}
	return h
}

// FNV1a32 is 32-bit FNV-1a, with bytes entering sign-extended.
func FNV1a32(key []byte) uint32 {
	h := uint32(fnv32Offset)
	for _, b := range key {
		h ^= signExtend(b)
		h *= fnv32Prime
	}
	return h
}
