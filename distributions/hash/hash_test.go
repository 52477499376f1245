package hash_test

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"hash/fnv"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/distributions/hash"
)

// names is nutcracker's list, in the order of its HASH_CODEC and of the
// columns of testdata/golden.txt.
var names = []string{
	"one_at_a_time", "md5", "crc16", "crc32", "crc32a",
	"fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32",
	"hsieh", "murmur", "jenkins",
}

func lookup(t testing.TB, name string) distributions.HashFunc {
	t.Helper()
	fn, err := distributions.LookupHash(name)
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

type golden struct {
	key    []byte
	hashes []uint32
}

func readGolden(t *testing.T) []golden {
	t.Helper()
	f, err := os.Open("testdata/golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []golden
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 1+len(names) {
			t.Fatalf("golden line has %d fields: %q", len(fields), line)
		}
		var g golden
		if fields[0] != "-" {
			if g.key, err = hex.DecodeString(fields[0]); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range fields[1:] {
			v, err := strconv.ParseUint(h, 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			g.hashes = append(g.hashes, uint32(v))
		}
		rows = append(rows, g)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 600 {
		t.Fatalf("only %d golden rows", len(rows))
	}
	return rows
}

func TestGolden(t *testing.T) {
	rows := readGolden(t)
	for i, name := range names {
		t.Run(name, func(t *testing.T) {
			fn := lookup(t, name)
			bad := 0
			for _, g := range rows {
				if got := fn(g.key); got != g.hashes[i] {
					bad++
					if bad <= 5 {
						t.Errorf("%s(%x) = %08x, want %08x", name, g.key, got, g.hashes[i])
					}
				}
			}
			if bad > 5 {
				t.Errorf("%d more mismatches", bad-5)
			}
		})
	}
}

// TestPublishedValues pins each function, where one exists, to a value
// published independently of twemproxy.
func TestPublishedValues(t *testing.T) {
	const fox = "The quick brown fox jumps over the lazy dog"
	tests := []struct {
		name string
		key  string
		want uint32
	}{
		{"one_at_a_time", "a", 0xca2e9442}, // Wikipedia, Jenkins hash function
		{"one_at_a_time", fox, 0x519e91f5},
		{"crc16", "", 0},
		{"crc16", "1", 0x2672},              // one byte: the XMODEM CRC alone
		{"crc32a", "123456789", 0xcbf43926}, // CRC-32/ISO-HDLC check value
		{"crc32", "123456789", 0xcbf43926 >> 16 & 0x7fff},
		{"fnv1_32", "123456789", 0x24148816}, // FNV-1 32 check value
		{"fnv1a_32", "123456789", 0xbb86b11c},
		{"md5", "", 0xd98c1dd4},    // d41d8cd9... (RFC 1321) read little-endian
		{"md5", "abc", 0x98500190}, // 90015098...
		{"jenkins", "", 0xdeadbeef + 13},
	}
	for _, tt := range tests {
		if got := lookup(t, tt.name)([]byte(tt.key)); got != tt.want {
			t.Errorf("%s(%q) = %08x, want %08x", tt.name, tt.key, got, tt.want)
		}
	}
}

// TestAgainstStdlib compares with the standard library wherever
// nutcracker's definition coincides with it: always for the CRCs and MD5,
// and for FNV only on keys without bytes of 0x80 or more, which nutcracker
// sign-extends.
func TestAgainstStdlib(t *testing.T) {
	for _, g := range readGolden(t) {
		k := g.key
		if got, want := hash.CRC32a(k), crc32.ChecksumIEEE(k); got != want {
			t.Errorf("crc32a(%x) = %08x, want %08x", k, got, want)
		}
		if got, want := hash.CRC32(k), bitwiseCRC32(k)>>16&0x7fff; got != want {
			t.Errorf("crc32(%x) = %08x, want %08x", k, got, want)
		}
		if got, want := hash.CRC16(k)&0xffff, bitwiseXMODEM(k); got != want {
			t.Errorf("crc16(%x) low bits = %04x, want CRC-16/XMODEM %04x", k, got, want)
		}
		sum := md5.Sum(k)
		if got, want := hash.MD5(k), binary.LittleEndian.Uint32(sum[:]); got != want {
			t.Errorf("md5(%x) = %08x, want %08x", k, got, want)
		}
		if !ascii(k) {
			continue
		}
		f32, f32a, f64 := fnv.New32(), fnv.New32a(), fnv.New64()
		f32.Write(k)
		f32a.Write(k)
		f64.Write(k)
		if got, want := hash.FNV1_32(k), f32.Sum32(); got != want {
			t.Errorf("fnv1_32(%x) = %08x, want %08x", k, got, want)
		}
		if got, want := hash.FNV1a32(k), f32a.Sum32(); got != want {
			t.Errorf("fnv1a_32(%x) = %08x, want %08x", k, got, want)
		}
		if got, want := hash.FNV1_64(k), uint32(f64.Sum64()); got != want {
			t.Errorf("fnv1_64(%x) = %08x, want %08x", k, got, want)
		}
	}
}

// TestSignExtension pins down the trap: for a byte of 0x80 or more the
// FNV family and one_at_a_time see 0xffffff80.., so they must disagree
// with an unsigned reading of the same key.
func TestSignExtension(t *testing.T) {
	k := []byte{0xc3, 0xa9} // "é" in UTF-8
	f := fnv.New32a()
	f.Write(k)
	if hash.FNV1a32(k) == f.Sum32() {
		t.Error("fnv1a_32 reads bytes unsigned; nutcracker sign-extends them")
	}
	// fnv1a_64 by hand: basis 0x84222325, prime 0x1b3, bytes sign-extended.
	h := uint32(0x84222325)
	for _, b := range k {
		h = (h ^ (0xffffff00 | uint32(b))) * 0x1b3
	}
	if got := hash.FNV1a64(k); got != h {
		t.Errorf("fnv1a_64(%x) = %08x, want %08x", k, got, h)
	}
}

func TestRegistered(t *testing.T) {
	for _, name := range names {
		lookup(t, name)
	}
}

func TestNoAllocs(t *testing.T) {
	key := []byte("user:1000:profile:settings:with-a-longer-tail")
	for _, name := range names {
		fn := lookup(t, name)
		if n := testing.AllocsPerRun(100, func() { fn(key) }); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
}

func ascii(k []byte) bool {
	for _, b := range k {
		if b >= 0x80 {
			return false
		}
	}
	return true
}

// bitwiseCRC32 and bitwiseCRC16 recompute the CRCs without tables, as a
// second formulation of the same polynomials.
func bitwiseCRC32(k []byte) uint32 {
	crc := ^uint32(0)
	for _, b := range k {
		crc ^= uint32(b)
		for range 8 {
			crc = crc>>1 ^ 0xedb88320&-(crc&1)
		}
	}
	return ^crc
}

func bitwiseXMODEM(k []byte) uint32 {
	var crc uint16
	for _, b := range k {
		crc ^= uint16(b) << 8
		for range 8 {
			crc = crc<<1 ^ 0x1021&-(crc>>15)
		}
	}
	return uint32(crc)
}

// TestCRC16Register checks the unmasked register against its definition
// on a key long enough for the spill to wrap: after n bytes the register
// is the XMODEM CRC plus every earlier CRC shifted left by 8 per byte.
func TestCRC16Register(t *testing.T) {
	key := []byte("123456789")
	var want uint32
	for n := 1; n <= len(key); n++ {
		prev := bitwiseXMODEM(key[:n-1])
		// One step: (reg << 8) ^ T[...] where T depends only on the low
		// 16 bits, which equal the XMODEM CRC of the prefix.
		want = want<<8 ^ (bitwiseXMODEM(key[:n]) ^ prev<<8&0xffff)
	}
	if got := hash.CRC16(key); got != want {
		t.Errorf("crc16(%q) = %08x, want %08x", key, got, want)
	}
	if got := hash.CRC16(key) & 0xffff; got != 0x31c3 { // CRC-16/XMODEM check value
		t.Errorf("crc16(%q) low bits = %04x, want 31c3", key, got)
	}
}

func BenchmarkHash(b *testing.B) {
	for _, size := range []int{16, 64} {
		key := []byte(strings.Repeat("k", size))
		for _, name := range names {
			fn := lookup(b, name)
			b.Run(name+"/"+strconv.Itoa(size), func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					fn(key)
				}
			})
		}
	}
}
