package fidelity

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/protocols/redis"
)

// The harness's own parts, checked without a server (they run under
// go test -short too): a harness that misreads a reply, builds a wrong
// call or ignores the docs' table would pass walnut for what it is not.

func TestReadValue(t *testing.T) {
	for in, want := range map[string]string{
		"+OK\r\n":                              "+OK",
		"-ERR bad thing\r\n":                   "-ERR bad thing",
		":-3\r\n":                              ":-3",
		"$5\r\nhe\r\no\r\n":                    `"he\r\no"`,
		"$-1\r\n":                              "$nil",
		"*-1\r\n":                              "*nil",
		"*2\r\n$1\r\na\r\n:1\r\n":              `["a", :1]`,
		"_\r\n":                                "_",
		",1.5\r\n":                             ",1.5",
		"#t\r\n":                               "#t",
		"(12345678901234567890\r\n":            "(12345678901234567890",
		"=7\r\ntxt:abc\r\n":                    `="txt:abc"`,
		"!3\r\nERR\r\n":                        `!"ERR"`,
		"%1\r\n$1\r\nk\r\n:1\r\n":              `{"k": :1}`,
		"~2\r\n:1\r\n:2\r\n":                   "~[:1, :2]",
		">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n":   `>["message", "x"]`,
		"|1\r\n$3\r\nttl\r\n:3\r\n$1\r\nv\r\n": `|{"ttl": :3} "v"`,
	} {
		v, err := readValue(bufio.NewReader(strings.NewReader(in)))
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := v.String(); got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
	for _, in := range []string{"?\r\n", "$x\r\n", "+OK\n", "*1\r\n"} {
		if v, err := readValue(bufio.NewReader(strings.NewReader(in))); err == nil {
			t.Errorf("%q: read %s, want an error", in, v)
		}
	}
}

// A simple status and a bulk string of the same text must not compare
// equal, nor an error and a status.
func TestRenderKeepsTypes(t *testing.T) {
	vs := []value{{kind: '+', str: "OK"}, {kind: '$', str: "OK"}, {kind: '-', str: "OK"}, {kind: ':', str: "1"}, {kind: '$', str: "1"}}
	for i := range vs {
		for j := range vs {
			if i != j && vs[i].String() == vs[j].String() {
				t.Errorf("%#v and %#v render alike: %s", vs[i], vs[j], vs[i])
			}
		}
	}
}

func TestLoadDocumented(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "redis.md")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	head := "text\n" + docsBegin + "\n| command | case | reason |\n|---|---|---|\n"
	d, err := loadDocumented(write(head + "| `client\\|list` | one server | refused |\n| `get` | both | a \\| b |\n" + docsEnd +
		"\n| `set` | both | outside the markers |\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(d) != 2 || d["client|list"] != caseOne || d["get"] != caseBoth {
		t.Errorf("got %v", d)
	}
	if !d.covers("get", caseThree) || !d.covers("client|list", caseOne) || d.covers("client|list", caseThree) || d.covers("set", caseOne) {
		t.Error("covers is wrong")
	}
	for name, body := range map[string]string{
		"no markers":   "| `get` | both | x |\n",
		"bad case":     head + "| `get` | two servers | x |\n" + docsEnd + "\n",
		"no reason":    head + "| `get` | both | |\n" + docsEnd + "\n",
		"listed twice": head + "| `get` | both | x |\n| `get` | one server | y |\n" + docsEnd + "\n",
		"short row":    head + "| `get` | both |\n" + docsEnd + "\n",
	} {
		if _, err := loadDocumented(write(body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestJudge(t *testing.T) {
	same := result{name: "get"}
	diff := func(name string) result { return result{name: name, differs: []difference{{}}} }
	doc := documented{"acl": caseBoth, "get": caseOne, "info": caseThree}
	v := judge(caseOne, []result{same, diff("acl"), diff("info"), diff("set")}, doc)
	if v.identical != 1 || v.documented != 1 || !slices.Equal(v.undocumented, []string{"info", "set"}) || !slices.Equal(v.stale, []string{"get"}) {
		t.Errorf("one server: %+v", v)
	}
	v = judge(caseThree, []result{diff("info"), diff("acl")}, doc)
	if v.documented != 2 || len(v.undocumented)+len(v.stale) != 0 {
		t.Errorf("three servers: %+v", v)
	}
	// The calibration documents nothing.
	v = judge("calibration", []result{same, diff("time")}, nil)
	if v.identical != 1 || !slices.Equal(v.undocumented, []string{"time"}) {
		t.Errorf("calibration: %+v", v)
	}
}

func TestGenerate(t *testing.T) {
	key := arg{name: "key", typ: "key", isKey: true}
	for _, tc := range []struct {
		cmd  command
		want []string // the calls, joined
	}{{
		// ZUNIONSTORE: numkeys counts the keys that follow it.
		cmd: command{name: "zunionstore", arity: -4, acl: map[string]bool{"sortedset": true}, args: []arg{
			{name: "destination", typ: "key", isKey: true},
			{name: "numkeys", typ: "integer"},
			{name: "key", typ: "key", isKey: true, multiple: true},
			{name: "weight", typ: "integer", token: "WEIGHTS", optional: true, multiple: true},
			{name: "aggregate", typ: "oneof", token: "AGGREGATE", optional: true, args: []arg{
				{name: "sum", typ: "pure-token", token: "SUM"}, {name: "max", typ: "pure-token", token: "MAX"}}},
		}},
		want: []string{
			"ZUNIONSTORE {t}:dest 1 {t}:zset",
			"ZUNIONSTORE {t}:dest 2 {t}:zset {t}:zset2 WEIGHTS 1 1 AGGREGATE MAX",
			"ZUNIONSTORE {t}:dest 1 {t}:missing",
			"ZUNIONSTORE {t}:dest 1 {t}:list",
			"ZUNIONSTORE {t}:dest 1",
			"ZUNIONSTORE",
			"ZUNIONSTORE {t}:dest 2 {t}:zset {t}:zset2 WEIGHTS 1 1 AGGREGATE MAX {t}:NOSUCHTOKEN",
			"ZUNIONSTORE {t}:dest notanumber {t}:zset {t}:zset2 WEIGHTS 1 1 AGGREGATE MAX",
		},
	}, {
		// EVAL: optional keys, so numkeys 0 with the required arguments.
		cmd: command{name: "eval", arity: -3, args: []arg{
			{name: "script", typ: "string"},
			{name: "numkeys", typ: "integer"},
			{name: "key", typ: "key", isKey: true, optional: true, multiple: true},
			{name: "arg", typ: "string", optional: true, multiple: true},
		}},
		want: []string{
			"EVAL return 1 0",
			"EVAL return 1 2 {t}:string {t}:string2 a1 a1",
			"EVAL return 1",
			"EVAL",
			"EVAL return 1 2 {t}:string {t}:string2 a1 a1 {t}:NOSUCHTOKEN",
			"EVAL return 1 notanumber {t}:string {t}:string2 a1 a1",
		},
	}, {
		// A fixed arity gets "too many"; multiple_token repeats the token;
		// a subcommand is two words.
		cmd: command{name: "object|encoding", arity: 3, args: []arg{key,
			{name: "pattern", typ: "pattern", token: "GET", optional: true, multiple: true, multipleToken: true}}},
		want: []string{
			"OBJECT ENCODING {t}:string",
			"OBJECT ENCODING {t}:string GET * GET *",
			"OBJECT ENCODING {t}:missing",
			"OBJECT ENCODING {t}:list",
			"OBJECT ENCODING",
			"OBJECT ENCODING {t}:string extra",
		},
	}, {
		cmd:  command{name: "object", arity: -2, container: true},
		want: []string{"OBJECT", "OBJECT NOSUCHSUB"},
	}, {
		// XADD: the ID, not "*", which the clock would make.
		cmd: command{name: "xadd", arity: -5, acl: map[string]bool{"stream": true}, args: []arg{key,
			{name: "id_or_auto", typ: "oneof", args: []arg{{name: "auto_id", typ: "pure-token", token: "*"}, {name: "id", typ: "string"}}},
			{name: "data", typ: "block", multiple: true, args: []arg{{name: "field", typ: "string"}, {name: "value", typ: "string"}}},
		}},
		want: []string{
			"XADD {t}:stream 10-0 f1 v1",
			"XADD {t}:stream 10-0 f1 v1 f1 v1",
			"XADD {t}:missing 10-0 f1 v1",
			"XADD {t}:list 10-0 f1 v1",
			"XADD {t}:stream 10-0 f1",
			"XADD",
			"XADD {t}:stream 10-0 f1 v1 f1 v1 {t}:NOSUCHTOKEN",
		},
	}} {
		var got []string
		for _, c := range generate(&tc.cmd) {
			got = append(got, strings.Join(c.cmds[0], " "))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got  %q\n want %q", tc.cmd.name, got, tc.want)
		}
	}
}

func TestNormalisers(t *testing.T) {
	b := func(s string) value { return value{kind: '$', str: s} }
	i := func(s string) value { return value{kind: ':', str: s} }
	arr := func(vs ...value) value { return value{kind: '*', elems: vs} }
	for _, tc := range []struct {
		name string
		f    func(value) value
		a, b value
		same bool
	}{
		{"sorted: order", sorted, arr(b("x"), b("y")), arr(b("y"), b("x")), true},
		{"sorted: members", sorted, arr(b("x"), b("y")), arr(b("x"), b("z")), false},
		{"sorted: scan keys", sorted, arr(b("0"), arr(b("x"), b("y"))), arr(b("0"), arr(b("y"), b("x"))), true},
		{"shape: values", shape, arr(b("x"), i("1")), arr(b("y"), i("2")), true},
		{"shape: length", shape, arr(b("x")), arr(b("x"), b("y")), false},
		{"shape: types", shape, arr(b("1")), arr(i("1")), false},
		{"kindOnly", kindOnly, i("1"), i("2"), true},
		{"kindOnly: type", kindOnly, i("1"), b("1"), false},
		{"maskFields", maskFields("id"), arr(b("id"), i("1"), b("proto"), i("2")), arr(b("id"), i("9"), b("proto"), i("2")), true},
		{"maskFields: others", maskFields("id"), arr(b("id"), i("1"), b("proto"), i("2")), arr(b("id"), i("1"), b("proto"), i("3")), false},
		{"maskClock", maskClock, arr(i("1796696083812"), i("1")), arr(i("1796696083999"), i("1")), true},
		{"maskClock: small", maskClock, arr(i("12")), arr(i("13")), false},
		{"pendingIdle", pendingIdle, arr(arr(b("1-0"), b("c1"), i("5"), i("1"))), arr(arr(b("1-0"), b("c1"), i("7"), i("1"))), true},
		{"pendingIdle: count", pendingIdle, arr(arr(b("1-0"), b("c1"), i("5"), i("1"))), arr(arr(b("1-0"), b("c1"), i("5"), i("2"))), false},
		{"infoFields", infoFields, b("# Server\r\nuptime:1\r\nerrorstat_ERR:count=1\r\n"), b("# Server\r\nuptime:2\r\n"), true},
		{"infoFields: fields", infoFields, b("# Server\r\nuptime:1\r\n"), b("# Server\r\nport:1\r\n"), false},
		{"commandDocs", commandDocs,
			arr(b("get"), arr(b("summary"), b("g")), b("acl"), arr(b("subcommands"), arr(b("acl|a"), arr(), b("acl|b"), arr()))),
			arr(b("acl"), arr(b("subcommands"), arr(b("acl|b"), arr(), b("acl|a"), arr())), b("get"), arr(b("summary"), b("g"))), true},
		{"commandTable", commandTable, arr(arr(b("get")), arr(b("acl"), i("1"), i("2"), i("3"), i("4"), i("5"), i("6"), i("7"), i("8"), arr(b("acl|b"), b("acl|a")))),
			arr(arr(b("acl"), i("1"), i("2"), i("3"), i("4"), i("5"), i("6"), i("7"), i("8"), arr(b("acl|a"), b("acl|b"))), arr(b("get"))), true},
	} {
		if got := tc.f(tc.a).String() == tc.f(tc.b).String(); got != tc.same {
			t.Errorf("%s: %s and %s compare equal: %v, want %v", tc.name, tc.a, tc.b, got, tc.same)
		}
	}
}

// Every rule says why, and the rules and the generator's tables name
// commands of walnut's table: a typo would leave a command to the
// defaults without anyone noticing.
func TestRulesSayWhy(t *testing.T) {
	names := redis.CommandNames()
	for name, r := range rules {
		if r.why == "" {
			t.Errorf("rule %q says not why", name)
		}
		if r.skip && (r.calls != nil || r.extra != nil) {
			t.Errorf("rule %q skips the command and gives it calls", name)
		}
		if !slices.Contains(names, name) {
			t.Errorf("rules has %q, which is not in walnut's command table", name)
		}
	}
	var named []string
	for k := range argValues {
		if cmd, _, ok := strings.Cut(k, "."); ok {
			named = append(named, cmd)
		}
	}
	for k := range oneofChoice {
		cmd, _, _ := strings.Cut(k, ".")
		named = append(named, cmd)
	}
	for k := range keyTypeOverride {
		named = append(named, k)
	}
	for _, cmd := range named {
		if !slices.Contains(names, cmd) {
			t.Errorf("the generator's tables name %q, which is not in walnut's command table", cmd)
		}
	}
}
