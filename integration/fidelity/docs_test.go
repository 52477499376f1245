package fidelity

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// arg is one argument of a command as COMMAND DOCS describes it.
type arg struct {
	name, typ, token                  string
	optional, multiple, multipleToken bool
	isKey                             bool
	args                              []arg // of a oneof or block
}

// command is what the reference redis-server says about one command.
type command struct {
	name      string // "get", "client|list"
	arity     int
	acl       map[string]bool // categories, without '@'
	args      []arg
	container bool
}

// words turns "client|list" into the words a client sends.
func (c *command) words() []string {
	return strings.Split(strings.ToUpper(c.name), "|")
}

// pairs reads a RESP2 map (an array of alternating keys and values).
func pairs(v value) map[string]value {
	m := map[string]value{}
	for i := 0; i+1 < len(v.elems); i += 2 {
		m[v.elems[i].str] = v.elems[i+1]
	}
	return m
}

// loadCommands asks a redis-server for COMMAND and COMMAND DOCS and
// returns every command and subcommand by name.
func loadCommands(addr string) (map[string]*command, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	vs, err := c.do(10*time.Second, []string{"COMMAND"}, []string{"COMMAND", "DOCS"})
	if err != nil {
		return nil, err
	}
	cmds := map[string]*command{}
	var info func(v value)
	info = func(v value) {
		if len(v.elems) < 7 {
			return
		}
		arity, _ := strconv.Atoi(v.elems[1].str)
		cm := &command{name: v.elems[0].str, arity: arity, acl: map[string]bool{}}
		for _, a := range v.elems[6].elems {
			cm.acl[strings.TrimPrefix(a.str, "@")] = true
		}
		cmds[cm.name] = cm
		if len(v.elems) > 9 && len(v.elems[9].elems) > 0 {
			cm.container = true
			for _, s := range v.elems[9].elems {
				info(s)
			}
		}
	}
	for _, v := range vs[0].elems {
		info(v)
	}
	var docs func(name string, v value) error
	docs = func(name string, v value) error {
		cm := cmds[name]
		if cm == nil {
			return fmt.Errorf("COMMAND DOCS has %q, which COMMAND lacks", name)
		}
		d := pairs(v)
		for _, a := range d["arguments"].elems {
			cm.args = append(cm.args, parseArg(a))
		}
		sub := d["subcommands"]
		for i := 0; i+1 < len(sub.elems); i += 2 {
			if err := docs(sub.elems[i].str, sub.elems[i+1]); err != nil {
				return err
			}
		}
		return nil
	}
	for i := 0; i+1 < len(vs[1].elems); i += 2 {
		if err := docs(vs[1].elems[i].str, vs[1].elems[i+1]); err != nil {
			return nil, err
		}
	}
	return cmds, nil
}

func parseArg(v value) arg {
	d := pairs(v)
	a := arg{name: d["name"].str, typ: d["type"].str, token: d["token"].str}
	_, a.isKey = d["key_spec_index"]
	for _, f := range d["flags"].elems {
		switch f.str {
		case "optional":
			a.optional = true
		case "multiple":
			a.multiple = true
		case "multiple_token":
			a.multipleToken = true
		}
	}
	for _, s := range d["arguments"].elems {
		a.args = append(a.args, parseArg(s))
	}
	return a
}

// Which pools a documented difference is about.
const (
	caseOne   = "one server"
	caseThree = "three servers"
	caseBoth  = "both"
)

// documented is the table of differences in docs/redis.md: command to
// case.
type documented map[string]string

func (d documented) covers(cmd, c string) bool {
	got, ok := d[cmd]
	return ok && (got == caseBoth || got == c)
}

const (
	docsBegin = "<!-- fidelity:begin -->"
	docsEnd   = "<!-- fidelity:end -->"
)

// docsPath is docs/redis.md, found from this source file so that the
// test runs from any directory.
func docsPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "docs", "redis.md")
}

// loadDocumented parses the rows between the markers: | `cmd` | case |
// reason |, with "\|" for the bar of "client|list".
func loadDocumented(path string) (documented, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d := documented{}
	in, seen := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == docsBegin:
			in, seen = true, true
			continue
		case line == docsEnd:
			in = false
			continue
		case !in || !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| command"):
			continue
		}
		cells := splitRow(line)
		if len(cells) != 3 {
			return nil, fmt.Errorf("%s:%d: want | command | case | reason |, got %q", path, n, line)
		}
		cmd := strings.Trim(cells[0], "`")
		switch cells[1] {
		case caseOne, caseThree, caseBoth:
		default:
			return nil, fmt.Errorf("%s:%d: case %q is not %q, %q or %q", path, n, cells[1], caseOne, caseThree, caseBoth)
		}
		if cells[2] == "" {
			return nil, fmt.Errorf("%s:%d: %s has no reason", path, n, cmd)
		}
		if _, dup := d[cmd]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", path, n, cmd)
		}
		d[cmd] = cells[1]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !seen {
		return nil, fmt.Errorf("%s has no %s ... %s table", path, docsBegin, docsEnd)
	}
	return d, nil
}

// splitRow splits a Markdown table row on its unescaped bars.
func splitRow(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' && i+1 < len(line) && line[i+1] == '|' {
			cur.WriteByte('|')
			i++
			continue
		}
		if line[i] == '|' {
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteByte(line[i])
	}
	return append(cells, strings.TrimSpace(cur.String()))
}
