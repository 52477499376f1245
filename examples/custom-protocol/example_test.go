package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/distributions"
	"github.com/walnutproxy/walnut/internal/testbed"
)

// The example as a user runs it: this directory built into a walnut
// binary, two backends from ./backend, walnut started on the example's
// walnut.toml (its addresses moved to free ports), and nothing but TCP
// between the test and them.

// greeting is the example's: its backends are started with -hello
// edge-1 and refuse any other name.
const greeting = "edge-1"

type example struct {
	walnut, backend string // binaries
	servers         []*testbed.Process
	conf            string // the configuration walnut runs with
	pool            *config.Pool
	listen          string
	stats, metrics  string
}

func TestExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs walnut and two backends")
	}
	ex := &example{
		walnut:  testbed.Build(t, "examples/custom-protocol", false),
		backend: testbed.Build(t, "examples/custom-protocol/backend", false),
	}
	for range 2 {
		ex.servers = append(ex.servers, ex.startBackend(t))
	}
	ports := [3]int{testbed.FreePort(t), testbed.FreePort(t), testbed.FreePort(t)}
	ex.listen = "127.0.0.1:" + strconv.Itoa(ports[0])
	ex.stats = "127.0.0.1:" + strconv.Itoa(ports[1])
	ex.metrics = "127.0.0.1:" + strconv.Itoa(ports[2])
	ex.conf = ex.exampleConfig(t, ports[0], ports[1], ports[2])
	// The read-through pool (TestExample/ReadThrough) shares the run.
	movingPort := testbed.FreePort(t)
	ex.conf += fmt.Sprintf("\n[pools.moving]\nlisten = \"127.0.0.1:%d\"\nprotocol = \"kvline\"\ngreeting = %q\n"+
		"servers = [\"%s:1 kv-a\", \"%s:1 kv-b\"]\n[pools.moving.migration]\nservers = [\"%s:1 kv-a\"]\n",
		movingPort, greeting, ex.servers[0].Addr, ex.servers[1].Addr, ex.servers[0].Addr)
	file := writeFile(t, "walnut.toml", ex.conf)
	cfg, err := config.Parse(file, []byte(ex.conf))
	if err != nil {
		t.Fatal(err)
	}
	ex.pool = cfg.Pools[0]
	testbed.Start(t, "walnut-kvline", ports[0], ex.walnut, "-c", file)
	for _, a := range []string{ex.stats, ex.metrics, fmt.Sprintf("127.0.0.1:%d", movingPort)} {
		if err := testbed.WaitListening(a, 10*time.Second); err != nil {
			t.Fatalf("walnut does not listen on %s: %v", a, err)
		}
	}

	t.Run("Sharding", ex.testSharding)
	t.Run("HashTags", ex.testHashTags)
	t.Run("MGET", ex.testMGET)
	t.Run("Pipelining", ex.testPipelining)
	t.Run("Stats", ex.testStats)
	t.Run("Greeting", ex.testGreeting)
	t.Run("ReadThrough", func(t *testing.T) { ex.testReadThrough(t, cfg.Pools[1]) })
	t.Run("CheckConfig", ex.testCheckConfig)
	t.Run("Convert", ex.testConvert)
}

func (ex *example) startBackend(t *testing.T) *testbed.Process {
	port := testbed.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return testbed.Start(t, "kvline-backend:"+strconv.Itoa(port), port, ex.backend, "-listen", addr, "-hello", greeting)
}

// exampleConfig returns walnut.toml as shipped, on the test's ports.
func (ex *example) exampleConfig(t *testing.T, listen, stats, metrics int) string {
	b, err := os.ReadFile("walnut.toml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(
		"127.0.0.1:7001", ex.servers[0].Addr,
		"127.0.0.1:7002", ex.servers[1].Addr,
		"127.0.0.1:22121", "127.0.0.1:"+strconv.Itoa(listen),
		"127.0.0.1:22222", "127.0.0.1:"+strconv.Itoa(stats),
		"127.0.0.1:9121", "127.0.0.1:"+strconv.Itoa(metrics),
	).Replace(string(b))
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// placement returns where pool p puts a key, as an index in p.Servers,
// computed here from the registries the way walnut routes: the hash of
// the key's tag (or of the whole key), placed by the distribution.
func placement(t *testing.T, p *config.Pool) func(key string) int {
	t.Helper()
	hash, err := distributions.LookupHash(p.Hash)
	if err != nil {
		t.Fatal(err)
	}
	dist, err := distributions.Lookup(p.Distribution)
	if err != nil {
		t.Fatal(err)
	}
	servers := make([]distributions.Server, len(p.Servers))
	for i, s := range p.Servers {
		servers[i] = distributions.Server{Name: s.Name, Addr: s.Addr, Weight: s.Weight, Alive: true}
	}
	table, err := dist.Build(servers)
	if err != nil {
		t.Fatal(err)
	}
	return func(key string) int {
		if len(p.HashTag) == 2 {
			if i := strings.IndexByte(key, p.HashTag[0]); i >= 0 {
				if j := strings.IndexByte(key[i+1:], p.HashTag[1]); j > 0 {
					key = key[i+1 : i+1+j]
				}
			}
		}
		return table.Pick(hash([]byte(key)))
	}
}

// serverIndex maps p's server order to ex.servers.
func (ex *example) serverOf(p *config.Pool, i int) int {
	for j, s := range ex.servers {
		if s.Addr == p.Servers[i].Addr {
			return j
		}
	}
	panic("server not started by the test: " + p.Servers[i].Addr)
}

// client is a plain TCP client of kvline.
type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReader(c)}
}

// backend connects to a backend directly, greeted as walnut greets it.
func (ex *example) backendClient(t *testing.T, i int) *client {
	c := dial(t, ex.servers[i].Addr)
	if got := c.do("HELLO " + greeting); got != "OK\r\n" {
		t.Fatalf("HELLO: %q", got)
	}
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one reply: a line, or an MGET's header and its lines.
func (c *client) reply() string {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading a reply: %v (read %q)", err, line)
	}
	n, ok := strings.CutPrefix(line, "VALUES ")
	if !ok {
		return line
	}
	count, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || count > 100000 {
		c.t.Fatalf("bad header %q", line)
	}
	var b strings.Builder
	b.WriteString(line)
	for range count {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading the values of %q: %v", line, err)
		}
		b.WriteString(l)
	}
	return b.String()
}

func (c *client) do(req string) string {
	c.t.Helper()
	c.send(req + "\r\n")
	return c.reply()
}

// Keys land where ketama puts them, so on both backends, and nowhere
// else.
func (ex *example) testSharding(t *testing.T) {
	place := placement(t, ex.pool)
	c := dial(t, ex.listen)
	const n = 200
	for i := range n {
		if got := c.do(fmt.Sprintf("SET key:%d value %d", i, i)); got != "OK\r\n" {
			t.Fatalf("SET key:%d: %q", i, got)
		}
	}
	direct := []*client{ex.backendClient(t, 0), ex.backendClient(t, 1)}
	var held [2]int
	for i := range n {
		want := ex.serverOf(ex.pool, place(fmt.Sprintf("key:%d", i)))
		held[want]++
		for b, d := range direct {
			got := d.do(fmt.Sprintf("GET key:%d", i))
			switch {
			case b == want && got != fmt.Sprintf("VALUE value %d\r\n", i):
				t.Errorf("key:%d: ketama puts it on backend %d, which answers %q", i, b, got)
			case b != want && got != "NONE\r\n":
				t.Errorf("key:%d: on backend %d too (%q); ketama puts it on %d", i, b, got, want)
			}
		}
	}
	if held[0] < n/5 || held[1] < n/5 {
		t.Errorf("ketama puts %v of %d keys on each backend: not sharded", held, n)
	}
	for b, d := range direct {
		if got, want := d.do("INFO"), fmt.Sprintf("INFO keys %d hello %s\r\n", held[b], greeting); got != want {
			t.Errorf("backend %d: %q, want %q", b, got, want)
		}
	}
	if got := c.do("SIZE"); got != fmt.Sprintf("COUNT %d\r\n", n) {
		t.Errorf("SIZE over both backends: %q, want %d", got, n)
	}
}

// Keys with the same hash tag land together; different tags still
// spread over both backends.
func (ex *example) testHashTags(t *testing.T) {
	c := dial(t, ex.listen)
	direct := []*client{ex.backendClient(t, 0), ex.backendClient(t, 1)}
	var groups [2]int
	for u := range 20 {
		fields := []string{"name", "mail", "plan", "city"}
		for _, f := range fields {
			if got := c.do(fmt.Sprintf("SET {user:%d}:%s %s of %d", u, f, f, u)); got != "OK\r\n" {
				t.Fatalf("SET: %q", got)
			}
		}
		home := -1
		for b, d := range direct {
			got := d.do(fmt.Sprintf("MGET {user:%d}:name {user:%d}:mail {user:%d}:plan {user:%d}:city", u, u, u, u))
			switch got {
			case fmt.Sprintf("VALUES 4\r\nVALUE name of %d\r\nVALUE mail of %d\r\nVALUE plan of %d\r\nVALUE city of %d\r\n", u, u, u, u):
				home = b
			case "VALUES 4\r\nNONE\r\nNONE\r\nNONE\r\nNONE\r\n":
			default:
				t.Errorf("user %d: backend %d holds part of the group: %q", u, b, got)
			}
		}
		if home < 0 {
			t.Fatalf("user %d: no backend holds the group", u)
		}
		groups[home]++
	}
	if groups[0] == 0 || groups[1] == 0 {
		t.Errorf("groups per backend %v: tags are not spread", groups)
	}
}

// An MGET over keys of both backends is split, and its reply has the
// values in the client's order.
func (ex *example) testMGET(t *testing.T) {
	place := placement(t, ex.pool)
	c := dial(t, ex.listen)
	var keys []string
	var want strings.Builder
	var on [2]bool
	for _, i := range []int{17, 3, 150, 42, 8, 99, 120, 5, 64, 33} {
		keys = append(keys, fmt.Sprintf("key:%d", i))
		fmt.Fprintf(&want, "VALUE value %d\r\n", i)
		on[ex.serverOf(ex.pool, place(keys[len(keys)-1]))] = true
		if i%3 == 0 {
			keys = append(keys, fmt.Sprintf("missing:%d", i))
			want.WriteString("NONE\r\n")
		}
	}
	if !on[0] || !on[1] {
		t.Fatalf("the keys are not on both backends: %v", on)
	}
	keys = append(keys, "key:17") // twice: answered twice
	want.WriteString("VALUE value 17\r\n")
	before := ex.readStats(t)
	got := c.do("MGET " + strings.Join(keys, " "))
	if w := fmt.Sprintf("VALUES %d\r\n", len(keys)) + want.String(); got != w {
		t.Fatalf("MGET:\n%q\nwant\n%q", got, w)
	}
	after := ex.readStats(t)
	if d := after.pool["fragments"] - before.pool["fragments"]; d != 2 {
		t.Errorf("fragments +%v, want +2: one part per backend", d)
	}
	// DEL is split too, and its counts summed.
	if got := c.do("DEL key:17 key:3 missing:0 key:150"); got != "COUNT 3\r\n" {
		t.Errorf("DEL: %q", got)
	}
	if got := c.do("MGET key:17 key:3 key:150 key:42"); got != "VALUES 4\r\nNONE\r\nNONE\r\nNONE\r\nVALUE value 42\r\n" {
		t.Errorf("after DEL: %q", got)
	}
}

// Many requests in one write come back in order, whatever backend
// answered each, with split and local requests among them.
func (ex *example) testPipelining(t *testing.T) {
	c := dial(t, ex.listen)
	var script strings.Builder
	var want []string
	for i := range 400 {
		fmt.Fprintf(&script, "SET pipe:%d v%d\r\n", i, i)
		want = append(want, "OK\r\n")
		fmt.Fprintf(&script, "GET pipe:%d\n", i) // nc without -C ends lines with LF alone
		want = append(want, fmt.Sprintf("VALUE v%d\r\n", i))
		if i%20 == 0 {
			fmt.Fprintf(&script, "MGET pipe:%d pipe:0 nothing:%d pipe:%d\r\nPING\r\nDEL nothing:%d\r\nBOGUS\r\n", i, i, i/2, i)
			want = append(want, fmt.Sprintf("VALUES 4\r\nVALUE v%d\r\nVALUE v0\r\nNONE\r\nVALUE v%d\r\n", i, i/2),
				"PONG "+greeting+"\r\n", "COUNT 0\r\n", "ERROR unknown command BOGUS\r\n")
		}
	}
	c.send(script.String())
	for i, w := range want {
		if got := c.reply(); got != w {
			t.Fatalf("reply %d of %d: %q, want %q", i, len(want), got, w)
		}
	}
}

// stats is one document of the nutcracker-style stats endpoint: the
// kv pool's counters, and each of its servers' by name.
type stats struct {
	pool    map[string]float64
	servers map[string]map[string]float64
}

func (ex *example) readStats(t *testing.T) stats {
	t.Helper()
	c, err := net.DialTimeout("tcp", ex.stats, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	raw, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("stats are not JSON: %v\n%s", err, raw)
	}
	var pool map[string]json.RawMessage
	if err := json.Unmarshal(doc["kv"], &pool); err != nil {
		t.Fatalf("no pool kv in the stats: %v\n%s", err, raw)
	}
	s := stats{pool: map[string]float64{}, servers: map[string]map[string]float64{}}
	for k, v := range pool {
		var n float64
		if json.Unmarshal(v, &n) == nil {
			s.pool[k] = n
			continue
		}
		m := map[string]float64{}
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatalf("pool kv, %s: %v", k, err)
		}
		s.servers[k] = m
	}
	return s
}

// requestsMetric reads walnut_requests_total for the kv pool and cmd.
func (ex *example) requestsMetric(t *testing.T, cmd string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + ex.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "walnut_requests_total{") && strings.Contains(l, `pool="kv"`) &&
			strings.Contains(l, `command="`+cmd+`"`) {
			v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			return v
		}
	}
	return 0
}

// The stats endpoint counts the pool's requests per backend, and the
// metrics endpoint per command.
func (ex *example) testStats(t *testing.T) {
	place := placement(t, ex.pool)
	c := dial(t, ex.listen)
	before := ex.readStats(t)
	gets := ex.requestsMetric(t, "get")
	sizes := ex.requestsMetric(t, "size")
	var sent [2]float64
	for i := range 50 {
		c.do(fmt.Sprintf("GET key:%d", i))
		sent[ex.serverOf(ex.pool, place(fmt.Sprintf("key:%d", i)))]++
	}
	c.do("SIZE") // one request to each backend
	after := ex.readStats(t)
	for i, p := range ex.pool.Servers {
		b := ex.serverOf(ex.pool, i)
		name := p.Name
		if after.servers[name] == nil {
			t.Fatalf("no server %s in the stats: %v", name, after.servers)
		}
		for _, f := range []string{"requests", "responses"} {
			if d := after.servers[name][f] - before.servers[name][f]; d != sent[b]+1 {
				t.Errorf("server %s %s +%v, want +%v", name, f, d, sent[b]+1)
			}
		}
		if after.servers[name]["server_connections"] < 1 {
			t.Errorf("server %s: no connection counted", name)
		}
	}
	if d := ex.requestsMetric(t, "get") - gets; d != 50 {
		t.Errorf("walnut_requests_total{command=get} +%v, want +50", d)
	}
	if d := ex.requestsMetric(t, "size") - sizes; d != 1 {
		t.Errorf("walnut_requests_total{command=size} +%v, want +1", d)
	}
}

// The greeting option: walnut answers PING with it and says HELLO with
// it to every backend connection; backends that want another name
// refuse walnut's connections, and its requests fail saying why.
func (ex *example) testGreeting(t *testing.T) {
	c := dial(t, ex.listen)
	if got := c.do("PING"); got != "PONG "+greeting+"\r\n" {
		t.Errorf("PING: %q", got)
	}
	port := testbed.FreePort(t)
	conf := fmt.Sprintf("[pools.kv]\nlisten = \"127.0.0.1:%d\"\nprotocol = \"kvline\"\ngreeting = \"intruder\"\n"+
		"servers = [\"%s:1\", \"%s:1\"]\n", port, ex.servers[0].Addr, ex.servers[1].Addr)
	testbed.Start(t, "walnut-intruder", port, ex.walnut, "-c", writeFile(t, "intruder.toml", conf))
	c = dial(t, fmt.Sprintf("127.0.0.1:%d", port))
	if got := c.do("PING"); got != "PONG intruder\r\n" {
		t.Errorf("PING: %q", got)
	}
	got := c.do("GET key:1")
	if !strings.HasPrefix(got, "FAIL backend refused HELLO intruder: wrong hello (pool kv, server 127.0.0.1:") {
		t.Errorf("GET from backends that want another greeting: %q", got)
	}
}

// While a pool's keys move to new backends ([pools.NAME.migration]), a
// read that misses on a key's new backend finds it on its old one, and
// a delete reaches both: kvline implements protocols.ReadThrough.
func (ex *example) testReadThrough(t *testing.T, moving *config.Pool) {
	place := placement(t, moving)
	key := ""
	for i := range 1000 {
		if k := fmt.Sprintf("moved:%d", i); ex.serverOf(moving, place(k)) == 1 {
			key = k
			break
		}
	}
	if key == "" {
		t.Fatal("ketama puts no key on the second backend")
	}
	// Before the reshard everything lived on the first backend.
	old := ex.backendClient(t, 0)
	if got := old.do("SET " + key + " from before"); got != "OK\r\n" {
		t.Fatalf("SET on the old backend: %q", got)
	}
	c := dial(t, moving.Listen)
	if got := c.do("GET " + key); got != "VALUE from before\r\n" {
		t.Errorf("GET of a key not moved yet: %q", got)
	}
	if got := c.do("MGET " + key + " moved:nowhere"); got != "VALUES 2\r\nVALUE from before\r\nNONE\r\n" {
		t.Errorf("MGET of a key not moved yet: %q", got)
	}
	if got := c.do("DEL " + key); got != "COUNT 1\r\n" {
		t.Errorf("DEL of a key not moved yet: %q", got)
	}
	if got := old.do("GET " + key); got != "NONE\r\n" {
		t.Errorf("after DEL the old backend still has it: %q", got)
	}
}

// walnut -t checks the protocol's own key as it checks the others: a
// bad value names the file, the pool and the key; a misspelt key is
// unknown; another protocol's pool does not take it.
func (ex *example) testCheckConfig(t *testing.T) {
	run := func(conf string) (string, int) {
		path := writeFile(t, "check.toml", conf)
		out, err := exec.Command(ex.walnut, "-t", "-c", path).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(out), path, "FILE"), code
	}
	if out, code := run(ex.conf); code != 0 || !strings.Contains(out, "syntax is ok") {
		t.Fatalf("the example's configuration: exit %d\n%s", code, out)
	}
	pool := "[pools.kv]\nlisten = \"127.0.0.1:1\"\nprotocol = \"kvline\"\nservers = [\"127.0.0.1:7001:1\"]\n"
	for _, tc := range []struct {
		name, conf string
		want       []string
	}{
		{"bad value", pool + "greeting = \"two words\"\n",
			[]string{"FILE", "pools.kv.greeting: want only letters, digits", `got "two words"`}},
		{"empty", pool + "greeting = \"\"\n", []string{"FILE", "pools.kv.greeting: want 1 to 64"}},
		{"wrong type", pool + "greeting = 42\n", []string{"FILE", "pools.kv.greeting: want a string, got integer"}},
		{"misspelt key", pool + "greting = \"edge-1\"\n", []string{"FILE", "pools.kv.greting: unknown key"}},
		{"on a redis pool", "[pools.r]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\ngreeting = \"edge-1\"\n",
			[]string{"FILE", "pools.r.greeting: only a kvline pool takes greeting (this pool's protocol is redis)"}},
	} {
		out, code := run(tc.conf)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1\n%s", tc.name, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the message lacks %q:\n%s", tc.name, w, out)
			}
		}
	}
}

// walnut convert writes every key of a pool, the protocol's own too
// (protocols.OptionsEncoder), and reads back the same.
func (ex *example) testConvert(t *testing.T) {
	out, err := exec.Command(ex.walnut, "convert", writeFile(t, "in.toml", ex.conf)).Output()
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	if !bytes.Contains(out, []byte(`greeting = "`+greeting+`"`)) {
		t.Fatalf("convert lost the greeting:\n%s", out)
	}
	cfg, err := config.Parse("converted.toml", out)
	if err != nil {
		t.Fatalf("the converted file: %v", err)
	}
	if got := cfg.Pools[0].Options; fmt.Sprint(got) != fmt.Sprint(ex.pool.Options) {
		t.Errorf("options %v after convert, %v before", got, ex.pool.Options)
	}
}
