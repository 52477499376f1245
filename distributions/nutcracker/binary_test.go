package nutcracker_test

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/distributions/hash"
	_ "github.com/walnutproxy/walnut/distributions/random"
	"github.com/walnutproxy/walnut/internal/testbed"
)

var update = flag.Bool("update", false, "record "+placementsFile+" afresh from the nutcracker binary")

// TestAgainstNutcracker runs a real nutcracker in front of fake Redis
// backends that note which keys reach them, and compares every placement
// with walnut's. With -update it rewrites the recording that
// TestRecordedPlacements replays.
func TestAgainstNutcracker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nutcracker")
	}
	bin := testbed.Need(t, "nutcracker")
	dir := t.TempDir()
	rec := &recorder{seen: map[string]int{}}
	lab := newLab(t, dir, rec)
	keys := sharedKeys()
	cases := lab.cases()

	conf := filepath.Join(dir, "nutcracker.yml")
	if err := os.WriteFile(conf, []byte(lab.config(cases)), 0o644); err != nil {
		t.Fatal(err)
	}
	startNutcracker(t, bin, conf, dir, len(cases))

	for i := range cases {
		c := &cases[i]
		ck := keys
		if c.Keys != nil {
			ck = c.keys(nil)
		}
		listen := filepath.Join(dir, fmt.Sprintf("p%d.sock", i))
		if c.eject {
			ejectDeadServer(t, listen, c)
		}
		rec.take()
		replies, err := get(listen, ck)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		seen, dups := rec.take()
		if dups > 0 && !c.random { // the shared keys repeat a few short keys
			t.Fatalf("%s: %d keys reached two servers", c.Name, dups)
		}
		picks := make([]int, len(ck))
		for j, k := range ck {
			if replies[j] != "$-1\r\n" {
				t.Fatalf("%s: key %x: nutcracker replied %q", c.Name, k, replies[j])
			}
			b, ok := seen[string(k)]
			if !ok {
				t.Fatalf("%s: key %x reached no backend", c.Name, k)
			}
			picks[j] = slices.Index(c.backends, b)
		}
		if c.random {
			checkUnweighted(t, c, picks)
			continue
		}
		c.Picks = formatPicks(picks)
		comparePicks(t, &c.poolCase, ck, picks)
	}

	if *update {
		r := recording{
			Comment: "Placements made by nutcracker 0.5.0 (Debian 0.5.0+dfsg-2, x86-64); " +
				"regenerate with: go test ./distributions/nutcracker -run TestAgainstNutcracker -update",
		}
		for _, k := range keys {
			r.Keys = append(r.Keys, hex.EncodeToString(k))
		}
		for _, c := range cases {
			if !c.random {
				r.Cases = append(r.Cases, c.poolCase)
			}
		}
		data, err := json.MarshalIndent(r, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(placementsFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkUnweighted checks that nutcracker split the keys about evenly
// between two servers of unequal weight, and that walnut's random does too.
func checkUnweighted(t *testing.T, c *liveCase, picks []int) {
	t.Helper()
	share := func(picks []int) float64 {
		n := 0
		for _, p := range picks {
			if p == 0 {
				n++
			}
		}
		return float64(n) / float64(len(picks))
	}
	if s := share(picks); s < 0.4 || s > 0.6 {
		t.Errorf("%s: nutcracker sent %.0f%% of keys to the server of weight %d", c.Name, 100*s, c.Servers[0].Weight)
	}
	want, err := c.expect(sharedKeys())
	if err != nil {
		t.Fatal(err)
	}
	if s := share(want); s < 0.4 || s > 0.6 {
		t.Errorf("%s: walnut sends %.0f%% of keys to the server of weight %d", c.Name, 100*s, c.Servers[0].Weight)
	}
}

// sharedKeys covers every byte value alone, every length up to 80 with
// and without high bits (every tail of every block size, signed and not),
// random binary keys and ordinary ones.
func sharedKeys() [][]byte {
	var keys [][]byte
	for b := range 256 {
		keys = append(keys, []byte{byte(b)})
	}
	for n := 2; n <= 80; n++ {
		a, h := make([]byte, n), make([]byte, n)
		for i := range n {
			a[i] = byte('a' + i%26)
			h[i] = byte(0x7d + i*37)
		}
		keys = append(keys, a, h)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 250 {
		k := make([]byte, 1+r.IntN(100))
		for i := range k {
			k[i] = byte(r.Uint32())
		}
		keys = append(keys, k)
	}
	for i := range 300 {
		keys = append(keys, fmt.Appendf(nil, "user:%d", i))
	}
	return keys
}

type liveCase struct {
	poolCase
	backends []int // per server, the backend id; -1 for a dead server
	eject    bool
	// random cases are not recorded: their placements are only counted.
	random bool
}

// lab is the set of fake backends that the cases share.
type lab struct {
	t     *testing.T
	tcp   []int // backend ids
	unix  []int
	port  []int // on 127.0.0.x:11211
	addrs []string
	dead  string
	r     *rand.Rand
}

const deadBackend = -1

func newLab(t *testing.T, dir string, rec *recorder) *lab {
	l := &lab{t: t, r: rand.New(rand.NewPCG(1, 2))}
	add := func(network, addr string) int {
		ln, err := net.Listen(network, addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		id := len(l.addrs)
		l.addrs = append(l.addrs, ln.Addr().String())
		go serve(ln, id, rec)
		return id
	}
	for range 64 {
		l.tcp = append(l.tcp, add("tcp", "127.0.0.1:0"))
	}
	for i := range 4 {
		l.unix = append(l.unix, add("unix", filepath.Join(dir, fmt.Sprintf("b%d.sock", i))))
	}
	// Port 11211 may be taken by a memcached on the wildcard address; the
	// case that needs it is then left out (but never from a recording).
	for i := range 4 {
		addr := fmt.Sprintf("127.0.0.%d:11211", 2+i)
		if ln, err := net.Listen("tcp", addr); err != nil {
			if *update {
				t.Fatal(err)
			}
			t.Logf("skipping the port 11211 case: %v", err)
			l.port = nil
			break
		} else {
			ln.Close()
		}
		l.port = append(l.port, add("tcp", addr))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.dead = ln.Addr().String()
	ln.Close()
	return l
}

func (l *lab) pick(n int) []int {
	ids := slices.Clone(l.tcp)
	l.r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	return ids[:n]
}

func (l *lab) pool(name, hash, dist string, ids []int, weights []int, names []string) liveCase {
	c := liveCase{poolCase: poolCase{Name: name, Hash: hash, Dist: dist}}
	for i, id := range ids {
		s := serverSpec{Weight: 1}
		if id == deadBackend {
			s.Addr, s.Dead = l.dead, true
			c.eject = true
		} else {
			s.Addr = l.addrs[id]
		}
		if weights != nil {
			s.Weight = weights[i]
		}
		if names != nil {
			s.Name = names[i]
		}
		c.Servers = append(c.Servers, s)
		c.backends = append(c.backends, id)
	}
	return c
}

func (l *lab) weights(n, max int) []int {
	w := make([]int, n)
	for i := range w {
		w[i] = 1 + l.r.IntN(max)
	}
	return w
}

var hashNames = []string{
	"one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
	"fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins",
}

func (l *lab) cases() []liveCase {
	var cs []liveCase
	for _, h := range hashNames {
		// 61 slots give hash % 61: a second view of the high bits.
		cs = append(cs, l.pool("modula-61-"+h, h, "modula", l.pick(61), nil, nil))
		cs = append(cs, l.pool("ketama-10-"+h, h, "ketama", l.pick(10), nil, nil))
	}
	// 25 equal servers get 156 points each in nutcracker's float32, not 160.
	cs = append(cs, l.pool("ketama-25-equal", "fnv1a_64", "ketama", l.pick(25), nil, nil))
	cs = append(cs, l.pool("ketama-26-equal", "fnv1a_64", "ketama", l.pick(26), nil, nil))
	for i, h := range []string{"fnv1a_64", "md5", "murmur", "crc32a", "one_at_a_time", "jenkins"} {
		n := 2 + l.r.IntN(29)
		cs = append(cs, l.pool(fmt.Sprintf("ketama-weights-%d", i), h, "ketama", l.pick(n), l.weights(n, 20), nil))
	}
	for i := range 3 {
		n := 2 + l.r.IntN(9)
		cs = append(cs, l.pool(fmt.Sprintf("modula-weights-%d", i), "fnv1a_64", "modula", l.pick(n), l.weights(n, 10), nil))
	}
	// Explicit names, listed out of order: nutcracker sorts by length, then bytes.
	names := []string{"zzz", "b", "aa", "\u00e9t\u00e9", "a1b2", "B", "c", "ab"}
	cs = append(cs, l.pool("names-modula", "fnv1a_64", "modula", l.pick(len(names)), nil, names))
	cs = append(cs, l.pool("names-ketama", "fnv1a_64", "ketama", l.pick(len(names)), nil, names))
	// Port 11211 drops out of the default name.
	if l.port != nil {
		cs = append(cs, l.pool("port-11211-ketama", "md5", "ketama", append(slices.Clone(l.port), l.pick(1)...), nil, nil))
	}
	// Unix sockets keep the colon before the weight in the default name.
	cs = append(cs, l.pool("unix-ketama", "fnv1a_64", "ketama", append(slices.Clone(l.unix), l.pick(2)...), nil, nil))
	cs = append(cs, l.pool("unix-modula", "fnv1a_64", "modula", append(slices.Clone(l.unix), l.pick(2)...), nil, nil))
	// Point keys ("name-i") longer than 272 bytes are cut to 272: at 270
	// "name-10" hashes as "name-1"; at 300 every point key is the same.
	// 83 bytes was the limit of releases before 0.5.
	long := []string{strings.Repeat("w", 83), strings.Repeat("x", 270), strings.Repeat("y", 271), strings.Repeat("z", 300), "short"}
	cs = append(cs, l.pool("long-names-ketama", "fnv1a_64", "ketama", l.pick(len(long)), nil, long))
	cs = append(cs, l.tieCase())
	// Ejected servers leave the continuum and the total weight.
	cs = append(cs, l.pool("eject-ketama", "fnv1a_64", "ketama",
		append(l.pick(2), deadBackend, l.pick(1)[0], l.pick(1)[0]), []int{1, 2, 3, 4, 5}, nil))
	cs = append(cs, l.pool("eject-modula", "fnv1a_64", "modula",
		append(l.pick(1), deadBackend, l.pick(1)[0], l.pick(1)[0]), []int{1, 2, 1, 3}, nil))
	// random ignores weights: 1 and 9 still split the keys about evenly.
	random := l.pool("random-weights", "fnv1a_64", "random", l.pick(2), []int{1, 9}, nil)
	random.random = true
	cs = append(cs, random)
	return cs
}

// tieCase finds two server names with a point of the same value and keys
// that hash onto the arc ending at that point, where the order of equal
// points decides the server.
func (l *lab) tieCase() liveCase {
	points := func(name string) []uint32 {
		var ps []uint32
		for h := range 40 { // two equal servers: 160 points each
			sum := md5.Sum(fmt.Appendf(nil, "%s-%d", name, h))
			for x := range 4 {
				ps = append(ps, binary.LittleEndian.Uint32(sum[4*x:]))
			}
		}
		return ps
	}
	owner := map[uint32]string{}
	for i := 0; ; i++ {
		name := fmt.Sprintf("tie-%d", i)
		ps := points(name)
		for _, v := range ps {
			other, ok := owner[v]
			if !ok || other == name {
				owner[v] = name
				continue
			}
			all := append(points(other), ps...)
			slices.Sort(all)
			j := slices.Index(all, v)
			if j == 0 {
				continue // keep the arc simple: no wrap-around
			}
			prev := all[j-1]
			if v-prev < 1<<16 {
				continue
			}
			var keys []string
			for k := 0; len(keys) < 40 && k < 1<<24; k++ {
				key := fmt.Appendf(nil, "tie-key-%d", k)
				if h := hash.FNV1a64(key); h > prev && h <= v {
					keys = append(keys, hex.EncodeToString(key))
				}
			}
			if len(keys) < 40 {
				continue
			}
			for k := range 20 {
				keys = append(keys, hex.EncodeToString(fmt.Appendf(nil, "other-%d", k)))
			}
			c := l.pool("tie-ketama", "fnv1a_64", "ketama", l.pick(2), nil, []string{name, other})
			c.Keys = keys
			return c
		}
	}
}

func (l *lab) config(cases []liveCase) string {
	dir := filepath.Dir(l.addrs[l.unix[0]])
	var b strings.Builder
	for i, c := range cases {
		fmt.Fprintf(&b, "p%d:\n", i)
		fmt.Fprintf(&b, "  listen: %s\n", filepath.Join(dir, fmt.Sprintf("p%d.sock", i)))
		fmt.Fprintf(&b, "  hash: %s\n  distribution: %s\n  redis: true\n  timeout: 5000\n", c.Hash, c.Dist)
		fmt.Fprintf(&b, "  auto_eject_hosts: %t\n  server_retry_timeout: 600000\n  server_failure_limit: 1\n", c.eject)
		b.WriteString("  servers:\n")
		for _, s := range c.Servers {
			line := s.Addr + ":" + strconv.Itoa(s.Weight)
			if s.Name != "" {
				line += " " + s.Name
			}
			fmt.Fprintf(&b, "   - %s\n", line)
		}
	}
	return b.String()
}

func startNutcracker(t *testing.T, bin, conf, dir string, npools int) {
	if out, err := exec.Command(bin, "-t", "-c", conf).CombinedOutput(); err != nil {
		t.Fatalf("nutcracker rejects the configuration: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	statsPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	logFile := filepath.Join(dir, "nutcracker.log")
	cmd := exec.Command(bin, "-c", conf, "-s", statsPort, "-a", "127.0.0.1", "-o", logFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			if log, err := os.ReadFile(logFile); err == nil && len(log) < 1<<16 {
				t.Logf("nutcracker log:\n%s", log)
			}
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for i := range npools {
		for {
			c, err := net.Dial("unix", filepath.Join(dir, fmt.Sprintf("p%d.sock", i)))
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nutcracker does not listen: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// ejectDeadServer sends probe keys until one reaches the dead server and
// fails, which (with server_failure_limit 1) makes nutcracker eject it.
func ejectDeadServer(t *testing.T, listen string, c *liveCase) {
	for i := range 1000 {
		replies, err := get(listen, [][]byte{fmt.Appendf(nil, "probe-%d", i)})
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if strings.HasPrefix(replies[0], "-") {
			return
		}
	}
	t.Fatalf("%s: no probe reached the dead server", c.Name)
}

// get sends GET for every key, pipelined, and returns the first line of
// each reply.
func get(listen string, keys [][]byte) ([]string, error) {
	conn, err := net.Dial("unix", listen)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		w := bufio.NewWriter(conn)
		for _, k := range keys {
			fmt.Fprintf(w, "*2\r\n$3\r\nGET\r\n$%d\r\n", len(k))
			w.Write(k)
			w.WriteString("\r\n")
		}
		w.Flush()
	}()
	r := bufio.NewReader(conn)
	replies := make([]string, len(keys))
	for i := range replies {
		if replies[i], err = r.ReadString('\n'); err != nil {
			return nil, fmt.Errorf("reply %d: %w", i, err)
		}
	}
	return replies, nil
}

// recorder notes which backend each key reached.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int
	dups int
}

func (r *recorder) note(key string, backend int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.seen[key]; ok && prev != backend {
		r.dups++
	}
	r.seen[key] = backend
}

func (r *recorder) take() (map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen, dups := r.seen, r.dups
	r.seen, r.dups = map[string]int{}, 0
	return seen, dups
}

func serve(ln net.Listener, id int, rec *recorder) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				args, err := readCommand(r)
				if err != nil {
					return
				}
				if len(args) >= 2 {
					rec.note(string(args[1]), id)
				}
				if _, err := io.WriteString(c, "$-1\r\n"); err != nil {
					return
				}
			}
		}()
	}
}

// readCommand reads one RESP array of bulk strings, all nutcracker sends.
func readCommand(r *bufio.Reader) ([][]byte, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("unexpected %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, err
	}
	args := make([][]byte, n)
	for i := range args {
		if line, err = r.ReadString('\n'); err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "$")))
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args[i] = buf[:size]
	}
	return args, nil
}
