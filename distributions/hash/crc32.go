package hash

import (
	"hash/crc32"

	"github.com/walnutproxy/walnut/distributions"
)

func init() {
	distributions.RegisterHash("crc32", CRC32)
	distributions.RegisterHash("crc32a", CRC32a)
}

// CRC32 is libmemcached's CRC-32 variant that nutcracker kept for
// compatibility: the IEEE checksum cut down to bits 16..30, so it never
// exceeds 0x7fff.
func CRC32(key []byte) uint32 {
	return crc32.ChecksumIEEE(key) >> 16 & 0x7fff
}

// CRC32a is the standard IEEE CRC-32 (as zlib and hash/crc32 compute it).
func CRC32a(key []byte) uint32 {
	return crc32.ChecksumIEEE(key)
}
