package hash

import "github.com/walnutproxy/walnut/distributions"

func init() { distributions.RegisterHash("crc16", CRC16) }

// crc16Table is the CRC-16/XMODEM table (polynomial 0x1021, not
// reflected); generated rather than spelled out so it cannot hold a typo.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC16 is nutcracker's crc16, which is not a 16-bit value: it runs the
// CRC-16/XMODEM update in a 32-bit register that is never masked, so the
// bits shifted out of the CRC pile up above it. The low 16 bits are the
// XMODEM CRC (what Redis Cluster uses for slots); all 32 decide placement.
func CRC16(key []byte) uint32 {
	var crc uint32
	for _, b := range key {
		crc = crc<<8 ^ uint32(crc16Table[byte(crc>>8)^b])
	}
	return crc
}
