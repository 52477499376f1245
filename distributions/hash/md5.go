package hash

import (
	"crypto/md5"
	"encoding/binary"

	"github.com/walnutproxy/walnut/distributions"
)

func init() { distributions.RegisterHash("md5", MD5) }

// MD5 is the first four bytes of the key's MD5 digest, read little-endian.
func MD5(key []byte) uint32 {
	sum := md5.Sum(key)
	return binary.LittleEndian.Uint32(sum[:4])
}
