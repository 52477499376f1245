package walnutcmd

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// walnut reads nutcracker's command line as nutcracker's getopt_long
// does, so that init scripts and systemd units keep working when the
// binary is swapped: short options alone ("-c file"), glued ("-cfile")
// or combined ("-dt", "-dtc file"), long options with "=" or a separate
// argument, unique prefixes of long options ("--conf"), "--" ending the
// options, and arguments that are not options ignored. walnut's own long
// options come on top; for the Go flag syntax walnut used before, they
// also take a single dash ("-log-level debug").

// Limits nutcracker puts on -m (mbuf chunk size) and its default.
const (
	mbufMin     = 512
	mbufMax     = 16777216
	mbufDefault = 16384
	// Nutcracker's stats port and address, used for a YAML file.
	nutcrackerStatsPort = 22222
	nutcrackerStatsAddr = "0.0.0.0"
	// Nutcracker's log levels: LOG_EMERG (0) to LOG_PVERB (11), LOG_NOTICE
	// (5) by default.
	nutcrackerLevelMax     = 11
	nutcrackerLevelDefault = 5
)

// options is what the command line asks for.
type options struct {
	help          bool // -h: version block and usage
	showVersion   bool // -V: nutcracker's version block
	walnutVersion bool // --version: "walnut X" on stdout
	describeStats bool // -D
	testConf      bool // -t
	daemonize     bool // -d

	verbose    int    // -v: nutcracker level 0-11, -1 if not given
	output     string // -o: log file, "" for stderr
	confFile   string // -c
	statsPort  int    // -s: 0 if not given
	statsAddr  string // -a
	statsAddrG bool   // -a was given
	statsIntvl int    // -i: accepted and ignored, -1 if not given
	pidFile    string // -p: "" for none
	mbufSize   int    // -m: 0 if not given

	logLevel   string // --log-level
	logFormat  string // --log-format
	cpuProfile string // --cpuprofile

	ignored []string // arguments that are not options
}

// optSpec is one option: its short letter (0 if none), long name, and
// whether it takes an argument.
type optSpec struct {
	short  byte
	long   string
	arg    bool
	walnut bool // walnut's own, not nutcracker's
}

// The long options walnut adds are matched by prefix only when no
// nutcracker option matches, so that every abbreviation nutcracker
// accepts means what it meant ("--c" is still --conf-file).
var optSpecs = []optSpec{
	{'h', "help", false, false},
	{'V', "version", false, false}, // --version itself is walnut's, see parseArgs
	{'t', "test-conf", false, false},
	{'d', "daemonize", false, false},
	{'D', "describe-stats", false, false},
	{'v', "verbose", true, false},
	{'o', "output", true, false},
	{'c', "conf-file", true, false},
	{'s', "stats-port", true, false},
	{'i', "stats-interval", true, false},
	{'a', "stats-addr", true, false},
	{'p', "pid-file", true, false},
	{'m', "mbuf-size", true, false},
	{0, "log-level", true, true},
	{0, "log-format", true, true},
	{0, "cpuprofile", true, true},
}

// singleDash are the long options that also take one dash, as Go's flag
// package (walnut's earlier parser) allowed. None of them is a valid
// nutcracker command line.
var singleDash = map[string]bool{
	"version": true, "test-conf": true, "verbose": true,
	"log-level": true, "log-format": true, "cpuprofile": true,
}

// usageError is a command-line mistake: its message, then the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// parseArgs reads the command line (without the program name).
func parseArgs(args []string) (*options, error) {
	o := &options{verbose: -1, statsIntvl: -1, confFile: "walnut.toml"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			o.ignored = append(o.ignored, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			var err error
			if i, err = o.long(args, i, a[2:]); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-' && singleDash[strings.SplitN(a[1:], "=", 2)[0]]:
			var err error
			if i, err = o.long(args, i, a[1:]); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			var err error
			if i, err = o.shorts(args, i); err != nil {
				return nil, err
			}
		default:
			o.ignored = append(o.ignored, a)
		}
	}
	for _, a := range o.ignored {
		if a == "convert" {
			return nil, usagef("convert must come first: walnut convert FILE.yml")
		}
		if a == "reshard" {
			return nil, usagef("reshard must come first: walnut reshard --to NEW.toml ...")
		}
	}
	return o, nil
}

// long reads the long option args[i] ("--" or "-" already cut: text),
// and its argument; it returns the index of the last argument used.
func (o *options) long(args []string, i int, text string) (int, error) {
	name, value, hasValue := strings.Cut(text, "=")
	spec, err := lookupLong(name)
	if err != nil {
		return i, err
	}
	switch {
	case !spec.arg && hasValue:
		return i, usagef("option '--%s' doesn't allow an argument", spec.long)
	case spec.arg && !hasValue:
		if i+1 >= len(args) {
			return i, missingArg(spec)
		}
		i++
		value = args[i]
	}
	if spec.long == "version" {
		// walnut's --version, unlike -V, prints "walnut X" on stdout.
		o.walnutVersion = true
		return i, nil
	}
	return i, o.set(spec, value)
}

// lookupLong finds a long option by its name or a unique prefix of it.
func lookupLong(name string) (optSpec, error) {
	for _, walnut := range []bool{false, true} {
		var found []optSpec
		for _, s := range optSpecs {
			if s.walnut != walnut {
				continue
			}
			if s.long == name {
				return s, nil
			}
			if name != "" && strings.HasPrefix(s.long, name) {
				found = append(found, s)
			}
		}
		switch len(found) {
		case 0:
		case 1:
			return found[0], nil
		default:
			var names []string
			for _, s := range found {
				names = append(names, "'--"+s.long+"'")
			}
			return optSpec{}, usagef("option '--%s' is ambiguous; possibilities: %s", name, strings.Join(names, " "))
		}
	}
	return optSpec{}, usagef("unrecognized option '--%s'", name)
}

// shorts reads a group of short options, args[i] ("-dtc file").
func (o *options) shorts(args []string, i int) (int, error) {
	a := args[i]
	for j := 1; j < len(a); j++ {
		var spec optSpec
		for _, s := range optSpecs {
			if s.short != 0 && s.short == a[j] {
				spec = s
			}
		}
		if spec.long == "" {
			r, _ := utf8.DecodeRuneInString(a[j:])
			return i, usagef("invalid option -- '%c'", r)
		}
		if !spec.arg {
			if err := o.set(spec, ""); err != nil {
				return i, err
			}
			continue
		}
		value := a[j+1:]
		if value == "" {
			if i+1 >= len(args) {
				return i, missingArg(spec)
			}
			i++
			value = args[i]
		}
		return i, o.set(spec, value)
	}
	return i, nil
}

// missingArg is nutcracker's message for an option without its argument.
func missingArg(s optSpec) error {
	switch s.short {
	case 'o', 'c', 'p':
		return usagef("option -%c requires a file name", s.short)
	case 'm', 'v', 's', 'i':
		return usagef("option -%c requires a number", s.short)
	case 'a':
		return usagef("option -%c requires a string", s.short)
	}
	return usagef("option '--%s' requires an argument", s.long)
}

// number reads nutcracker's numbers: digits only, no sign or space.
// ok is false for anything else; a value too large for an int64 is
// reported as big.
func number(s string) (n int64, big, ok bool) {
	if s == "" {
		return 0, false, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, true, true
	}
	return n, false, true
}

func (o *options) set(s optSpec, v string) error {
	switch s.long {
	case "help":
		o.help = true
	case "version":
		o.showVersion = true
	case "test-conf":
		o.testConf = true
	case "daemonize":
		o.daemonize = true
	case "describe-stats":
		o.describeStats = true
	case "verbose":
		n, big, ok := number(v)
		if !ok {
			return usagef("option -v requires a number")
		}
		// As nutcracker, a level past the last is the last.
		if big || n > nutcrackerLevelMax {
			n = nutcrackerLevelMax
		}
		o.verbose = int(n)
	case "output":
		o.output = v
	case "conf-file":
		o.confFile = v
	case "stats-port":
		n, big, ok := number(v)
		if !ok {
			return usagef("option -s requires a number")
		}
		if big || n < 1 || n > 65535 {
			shown := strconv.FormatInt(n, 10)
			if big {
				shown = strings.TrimLeft(v, "0")
			}
			return usagef("option -s value %s is not a valid port", shown)
		}
		o.statsPort = int(n)
	case "stats-interval":
		n, big, ok := number(v)
		if !ok {
			return usagef("option -i requires a number")
		}
		if big || n > 1<<31-1 {
			n = 1<<31 - 1
		}
		o.statsIntvl = int(n)
	case "stats-addr":
		o.statsAddr, o.statsAddrG = v, true
	case "pid-file":
		o.pidFile = v
	case "mbuf-size":
		n, big, ok := number(v)
		if !ok || (n == 0 && !big) {
			return usagef("option -m requires a non-zero number")
		}
		if big || n < mbufMin || n > mbufMax {
			return usagef("mbuf chunk size must be between %d and %d bytes", mbufMin, mbufMax)
		}
		o.mbufSize = int(n)
	case "log-level":
		o.logLevel = v
	case "log-format":
		o.logFormat = v
	case "cpuprofile":
		o.cpuProfile = v
	}
	return nil
}

// writeVersion prints nutcracker's version block (-V, -h, -D).
func writeVersion(w io.Writer) {
	fmt.Fprintf(w, "This is walnut-%s\nasync event backend: epoll\n\n", Version)
}

// writeUsage prints the options, laid out as nutcracker's -h.
func writeUsage(w io.Writer) {
	fmt.Fprintf(w, `Usage: walnut [-hVdDt] [-v verbosity level] [-o output file]
              [-c conf file] [-s stats port] [-a stats addr]
              [-i stats interval] [-p pid file] [-m mbuf size]
       walnut convert FILE.yml
       walnut reshard --to NEW.toml [--from OLD.toml] [--dry-run] ... (walnut reshard -h)

Options:
  -h, --help             : this help
  -V, --version          : show version and exit (--version alone: "walnut VERSION" on stdout)
  -t, --test-conf        : test configuration for syntax errors and exit
  -d, --daemonize        : run as a daemon
  -D, --describe-stats   : print stats description and exit
  -v, --verbose=N        : set logging level (default: %d, min: 0, max: %d)
  -o, --output=S         : set logging file (default: stderr)
  -c, --conf-file=S      : set configuration file, walnut TOML or nutcracker YAML (default: walnut.toml)
  -s, --stats-port=N     : set stats monitoring port (default: %d for a YAML file, else [stats] listen)
  -a, --stats-addr=S     : set stats monitoring ip (default: %s for a YAML file, else [stats] listen)
  -i, --stats-interval=N : accepted for nutcracker's sake; walnut's stats are live, never aggregated
  -p, --pid-file=S       : set pid file (default: off)
  -m, --mbuf-size=N      : set size of the client read buffer chunk in bytes (default: %d bytes)

walnut's options:
      --log-level=S      : debug, info, warn or error (default: [log] level, or what -v says)
      --log-format=S     : text or json (default: [log] format, or text)
      --cpuprofile=S     : write a CPU profile to file S until exit
  reshard --to NEW.toml  : move the keys whose server changed (walnut reshard -h)
  convert FILE.yml       : print a nutcracker YAML file as walnut TOML and exit
`, nutcrackerLevelDefault, nutcrackerLevelMax, nutcrackerStatsPort, nutcrackerStatsAddr, mbufDefault)
}

// writeStatsDescription prints what -D prints: every field of the stats
// JSON and its meaning, nutcracker's layout and wording.
func writeStatsDescription(w io.Writer) {
	pool := [][2]string{
		{"client_eof", "# eof on client connections"},
		{"client_err", "# errors on client connections"},
		{"client_connections", "# active client connections"},
		{"server_ejects", "# times backend server was ejected"},
		{"forward_error", "# times we encountered a forwarding error"},
		{"fragments", "# fragments created from a multi-vector request"},
	}
	server := [][2]string{
		{"server_eof", "# eof on server connections"},
		{"server_err", "# errors on server connections"},
		{"server_timedout", "# timeouts on server connections"},
		{"server_connections", "# active server connections"},
		{"server_ejected_at", "timestamp when server was ejected in usec since epoch"},
		{"requests", "# requests"},
		{"request_bytes", "total request bytes"},
		{"responses", "# responses"},
		{"response_bytes", "total response bytes"},
		{"in_queue", "# requests in incoming queue"},
		{"in_queue_bytes", "current request bytes in incoming queue"},
		{"out_queue", "# requests in outgoing queue"},
		{"out_queue_bytes", "current request bytes in outgoing queue"},
	}
	fmt.Fprintf(w, "pool stats:\n")
	for _, s := range pool {
		fmt.Fprintf(w, "  %-20s\"%s\"\n", s[0], s[1])
	}
	fmt.Fprintf(w, "\nserver stats:\n")
	for _, s := range server {
		fmt.Fprintf(w, "  %-20s\"%s\"\n", s[0], s[1])
	}
}
