package fidelity

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/walnutproxy/walnut/config"
	"github.com/walnutproxy/walnut/core"
	"github.com/walnutproxy/walnut/internal/testbed"
	"github.com/walnutproxy/walnut/protocols/redis"

	_ "github.com/walnutproxy/walnut/builtins"
)

// target is where calls go: a redis-server, or a walnut pool and the
// servers behind it.
type target struct {
	name    string
	addr    string
	servers []string
}

// outcome is what a call got: a reply per request (more with marker),
// and a note if the replies stopped early.
type outcome struct {
	replies []value
	note    string
}

func (o outcome) String() string {
	var parts []string
	for _, v := range o.replies {
		parts = append(parts, v.String())
	}
	if o.note != "" {
		parts = append(parts, "("+o.note+")")
	}
	return strings.Join(parts, " ; ")
}

// at renders reply i as it came, or the note if the replies stopped
// before it.
func (o outcome) at(i int) string {
	if i < len(o.replies) {
		return o.replies[i].String()
	}
	if o.note != "" {
		return "(" + o.note + ")"
	}
	return "(nothing)"
}

// normalised renders every reply, and the note last, after r's
// normalisation of the replies that are not errors.
func (o outcome) normalised(r rule) []string {
	var out []string
	for _, v := range o.replies {
		if r.norm != nil && !v.isError() {
			v = r.norm(v)
		}
		out = append(out, v.String())
	}
	if o.note != "" {
		out = append(out, "("+o.note+")")
	}
	return out
}

// Two markers follow a request with marker set: CLIENT REPLY SKIP
// silences the first, and the second still ends the replies.
const (
	marker1 = "fidelity-marker-1"
	marker2 = "fidelity-marker-2"
)

// markerOf returns which PING marker v answers, subscribed or not: 0 for
// none.
func markerOf(v value) int {
	s := ""
	switch {
	case v.kind == '$' || v.kind == '+':
		s = v.str
	case (v.kind == '*' || v.kind == '>') && len(v.elems) == 2 && v.elems[0].str == "pong":
		s = v.elems[1].str
	}
	switch s {
	case marker1:
		return 1
	case marker2:
		return 2
	}
	return 0
}

// run makes one call on a new connection to addr.
func run(addr string, c call, r rule) outcome {
	timeout := r.timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	cn, err := dial(addr)
	if err != nil {
		return outcome{note: err.Error()}
	}
	defer cn.Close()
	var o outcome
	for _, req := range c.cmds {
		reqs := [][]string{req}
		if r.marker {
			reqs = append(reqs, []string{"PING", marker1}, []string{"PING", marker2})
		}
		if err := cn.send(reqs...); err != nil {
			o.note = "write: " + err.Error()
			return o
		}
		deadline := time.Now().Add(timeout)
		for {
			v, err := cn.read(deadline)
			switch {
			case isTimeout(err):
				o.note = fmt.Sprintf("no reply within %v", timeout)
				return o
			case errors.Is(err, io.EOF):
				o.note = "connection closed"
				return o
			case err != nil:
				o.note = err.Error()
				return o
			}
			if !r.marker {
				o.replies = append(o.replies, v)
				break
			}
			if m := markerOf(v); m == 2 {
				break
			} else if m == 0 {
				o.replies = append(o.replies, v)
			}
		}
		if r.walk {
			o.replies[len(o.replies)-1] = walkScan(cn, req, o.replies[len(o.replies)-1], deadline)
		}
	}
	return o
}

// walkScan follows a SCAN reply's cursor until it is 0 and returns
// [0, every key seen].
func walkScan(cn *conn, req []string, v value, deadline time.Time) value {
	if v.kind != '*' || len(v.elems) != 2 {
		return v
	}
	keys := slices.Clone(v.elems[1].elems)
	cursor := v.elems[0].str
	for range 10000 {
		if cursor == "0" {
			return value{kind: '*', elems: []value{{kind: '$', str: "0"}, {kind: '*', elems: keys}}}
		}
		next := slices.Clone(req)
		next[1] = cursor
		if err := cn.send(next); err != nil {
			return value{kind: '-', str: "fidelity: SCAN " + cursor + ": " + err.Error()}
		}
		page, err := cn.read(deadline)
		if err != nil {
			return value{kind: '-', str: "fidelity: SCAN " + cursor + ": " + err.Error()}
		}
		if page.kind != '*' || len(page.elems) != 2 {
			return page
		}
		cursor = page.elems[0].str
		keys = append(keys, page.elems[1].elems...)
	}
	return value{kind: '-', str: "fidelity: SCAN did not end"}
}

// difference is one call whose replies differ: the first replies that
// differ, normalised, and the position of that reply.
type difference struct {
	call      call
	at        int
	ref, test string
	// raw replies, for the classification of the report
	refOut, testOut outcome
}

// result is a command's comparison on one pair of targets.
type result struct {
	name    string
	calls   int
	differs []difference
}

// dump, if FIDELITY_DUMP names a file, gets every call and both
// replies, to check what the generator makes of the docs.
var dump io.Writer

// compare runs every call of cmd against ref and test, from a fresh
// fixture on both (the calls then follow one another on that data), and
// returns the calls whose replies differ.
func compare(t *testing.T, cmd string, calls []call, r rule, ref, test target) result {
	t.Helper()
	for _, tg := range []target{ref, test} {
		for _, s := range tg.servers {
			if err := resetServer(s); err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
		}
	}
	for _, tg := range []target{ref, test} {
		if err := loadFixture(tg.addr); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	res := result{name: cmd, calls: len(calls)}
	for _, c := range calls {
		ro := run(ref.addr, c, r)
		to := run(test.addr, c, r)
		if dump != nil {
			fmt.Fprintf(dump, "%s\t%s\t%s\n\tredis-server: %s\n\t%s: %s\n", cmd, c.label, c, short(ro.String()), test.name, short(to.String()))
		}
		if r.settle {
			for _, tg := range []target{ref, test} {
				for _, s := range tg.servers {
					if err := settleServer(s); err != nil {
						t.Fatalf("%s: %v", cmd, err)
					}
				}
			}
		}
		rs, ts := ro.normalised(r), to.normalised(r)
		if slices.Equal(rs, ts) {
			continue
		}
		d := difference{call: c, refOut: ro, testOut: to, ref: "(nothing)", test: "(nothing)"}
		for d.at = 0; d.at < len(rs) && d.at < len(ts) && rs[d.at] == ts[d.at]; d.at++ {
		}
		if d.at < len(rs) {
			d.ref = rs[d.at]
		}
		if d.at < len(ts) {
			d.test = ts[d.at]
		}
		res.differs = append(res.differs, d)
	}
	return res
}

// commandCalls returns the calls the harness makes for a command.
func commandCalls(cmds map[string]*command, name string) ([]call, rule, error) {
	r := rules[name]
	c := cmds[name]
	if c == nil {
		return nil, r, fmt.Errorf("walnut's table has %q, which the redis-server does not document", name)
	}
	calls := r.calls
	if calls == nil {
		calls = generate(c)
	}
	return append(slices.Clone(calls), r.extra...), r, nil
}

// TestFidelity drives every command of walnut's table through a pool of
// one server and a pool of three, each compared with a redis-server of
// its own holding the same data; the differences must be the ones
// docs/redis.md lists. A calibration pass first runs two redis-servers
// against each other: what differs there is the harness's fault (a
// missing normalisation in rules), not walnut's.
//
// Each command starts from a fresh fixture (FLUSHALL and the data again,
// on every server); its calls follow one another on that data, each on a
// connection of its own.
func TestFidelity(t *testing.T) {
	testbed.Need(t, "redis-server")
	if path := os.Getenv("FIDELITY_DUMP"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		dump = f
		defer func() { dump = nil }()
	}
	servers := testbed.Redises(t, 5)
	ref, one, three := servers[0], servers[1], servers[2:]
	cmds, err := loadCommands(ref.Addr)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := loadDocumented(docsPath())
	if err != nil {
		t.Fatal(err)
	}
	names := redis.CommandNames()
	for name := range doc {
		if !slices.Contains(names, name) {
			t.Errorf("docs/redis.md documents a difference of %q, which is not in walnut's command table", name)
		}
	}

	addrs := startWalnut(t, pool("one", one)+pool("three", three...))
	refT := target{name: "redis-server", addr: ref.Addr, servers: []string{ref.Addr}}
	cases := []struct {
		name string
		test target
		doc  documented
	}{
		{"two redis-servers (calibration)", target{name: "a second redis-server", addr: one.Addr, servers: []string{one.Addr}}, nil},
		{caseOne, target{name: "walnut, one server", addr: addrs["one"], servers: []string{one.Addr}}, doc},
		{caseThree, target{name: "walnut, three servers", addr: addrs["three"], servers: []string{three[0].Addr, three[1].Addr, three[2].Addr}}, doc},
	}
	checkSpread(t, cases[2].test)
	for _, cs := range cases {
		start := time.Now()
		var results []result
		skipped := 0
		for _, name := range names {
			if rules[name].skip {
				skipped++
				continue
			}
			calls, r, err := commandCalls(cmds, name)
			if err != nil {
				t.Fatal(err)
			}
			results = append(results, compare(t, name, calls, r, refT, cs.test))
		}
		report(t, cs.name, results, skipped, cs.doc, time.Since(start))
	}
}

// checkSpread fails the test unless the fixture, written through the
// pool, puts keys on each of its servers: the commands that read the
// whole keyspace must have something to merge.
func checkSpread(t *testing.T, tg target) {
	t.Helper()
	for _, s := range tg.servers {
		if err := resetServer(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := loadFixture(tg.addr); err != nil {
		t.Fatal(err)
	}
	for _, s := range tg.servers {
		c, err := dial(s)
		if err != nil {
			t.Fatal(err)
		}
		vs, err := c.do(5*time.Second, []string{"DBSIZE"})
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if vs[0].str == "0" {
			t.Fatalf("%s: the fixture put no key on %s; give it keys under more tags", tg.name, s)
		}
	}
}

// verdict sums up one case.
type verdict struct {
	identical, documented int
	// undocumented differ without docs/redis.md saying so; stale are
	// said to differ but do not.
	undocumented, stale []string
}

// judge compares results with what doc says of case c; a nil doc (the
// calibration) allows no difference.
func judge(c string, results []result, doc documented) verdict {
	var v verdict
	for _, res := range results {
		differs := len(res.differs) > 0
		switch {
		case !differs:
			v.identical++
			if doc.covers(res.name, c) {
				v.stale = append(v.stale, res.name)
			}
		case doc.covers(res.name, c):
			v.documented++
		default:
			v.undocumented = append(v.undocumented, res.name)
		}
	}
	return v
}

// report prints the figures of one case and fails on what is not as
// documented.
func report(t *testing.T, c string, results []result, skipped int, doc documented, took time.Duration) {
	t.Helper()
	v := judge(c, results, doc)
	calls := 0
	for _, res := range results {
		calls += res.calls
	}
	t.Logf("fidelity: %d/%d commands identical on %s; %d documented; %d skipped (%d calls, %v)",
		v.identical, len(results), c, v.documented, skipped, calls, took.Round(time.Millisecond))
	if testing.Verbose() || len(v.undocumented) > 0 {
		for _, res := range results {
			if len(res.differs) == 0 {
				continue
			}
			mark := ""
			if !doc.covers(res.name, c) {
				mark = " (UNDOCUMENTED)"
			}
			d := res.differs[0]
			t.Logf("  %s%s: %d/%d calls differ; first: %s (reply %d)\n      redis-server: %s\n      %s: %s",
				res.name, mark, len(res.differs), res.calls, d.call, d.at+1, short(d.ref), c, short(d.test))
		}
	}
	if path := os.Getenv("FIDELITY_TABLE"); path != "" && doc != nil {
		writeTable(t, path, c, results)
	}
	switch {
	case doc == nil && len(v.undocumented) > 0:
		t.Errorf("two redis-servers answer %s differently: the harness needs a rule for them (rules_test.go)",
			strings.Join(v.undocumented, ", "))
	case len(v.undocumented) > 0:
		sort.Strings(v.undocumented)
		t.Errorf("%s: undocumented differences (fix them, or add them to docs/redis.md between %s and %s): %s",
			c, docsBegin, docsEnd, strings.Join(v.undocumented, ", "))
	}
	if len(v.stale) > 0 {
		t.Errorf("%s: documented differences that no longer happen (take them out of docs/redis.md): %s", c, strings.Join(v.stale, ", "))
	}
}

// short cuts a rendering for the log, on a character boundary.
func short(s string) string {
	if len(s) <= 300 {
		return s
	}
	n := 300
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// pool renders a Redis pool section over servers. The servers are
// named, so that placement (ketama over the names) does not change with
// the ports they got: the three-server case is the same every run.
func pool(name string, servers ...*testbed.Process) string {
	var list []string
	for i, s := range servers {
		list = append(list, fmt.Sprintf("\"%s:1 s%d\"", s.Addr, i+1))
	}
	return fmt.Sprintf("[pools.%s]\nlisten = \"127.0.0.1:0\"\nprotocol = \"redis\"\nhash_tag = \"{}\"\n"+
		"allow_flush = true\ntimeout = \"10s\"\nservers = [%s]\n", name, strings.Join(list, ", "))
}

// startWalnut runs walnut in the test process (so that the race
// detector watches it) and returns its pools' addresses by name.
func startWalnut(t *testing.T, conf string) map[string]string {
	t.Helper()
	cfg, err := config.Parse("fidelity.toml", []byte(conf))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, conf)
	}
	level := slog.LevelWarn
	if os.Getenv("WALNUT_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	px, err := core.New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	px.SetVersion("test")
	if err := px.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { px.Close() })
	addrs := map[string]string{}
	for _, p := range px.Pools() {
		addrs[p.Name()] = p.Addr().String()
	}
	return addrs
}

// testWriter sends walnut's log to the test's.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// classify names the cause of a difference, for the report and the
// table FIDELITY_TABLE writes.
func classify(c string, d difference) string {
	var w, r value
	for _, v := range d.testOut.replies {
		if v.isError() {
			w = v
			break
		}
	}
	for _, v := range d.refOut.replies {
		if v.isError() {
			r = v
			break
		}
	}
	switch {
	case strings.HasPrefix(w.str, "ERR unsupported command"):
		return "refused by walnut"
	case w.isError():
		return "walnut's own error text"
	case c == caseThree && !r.isError():
		return "merged reply differs"
	}
	return "other"
}

// writeTable appends, for FIDELITY_TABLE, a line per differing command:
// command, case, cause, first differing call, both replies that differ
// (as they came, before normalisation).
func writeTable(t *testing.T, path, c string, results []result) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, res := range results {
		if len(res.differs) == 0 {
			continue
		}
		d := res.differs[0]
		fmt.Fprintf(f, "%s\t%s\t%s\t%s\t%s\t%s\n", res.name, c, classify(c, d), d.call, short(d.refOut.at(d.at)), short(d.testOut.at(d.at)))
	}
}
