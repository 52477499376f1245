package walnutcmd

import (
	"reflect"
	"strings"
	"testing"
)

// Every form getopt_long accepts, as nutcracker reads its command line.
func TestParseArgsForms(t *testing.T) {
	base := func(f func(o *options)) *options {
		o := &options{verbose: -1, statsIntvl: -1, confFile: "walnut.toml"}
		f(o)
		return o
	}
	cases := []struct {
		args []string
		want *options
	}{
		{nil, base(func(o *options) {})},
		{[]string{"-c", "x.yml"}, base(func(o *options) { o.confFile = "x.yml" })},
		{[]string{"-cx.yml"}, base(func(o *options) { o.confFile = "x.yml" })},
		{[]string{"--conf-file=x.yml"}, base(func(o *options) { o.confFile = "x.yml" })},
		{[]string{"--conf-file", "x.yml"}, base(func(o *options) { o.confFile = "x.yml" })},
		{[]string{"--conf", "x.yml"}, base(func(o *options) { o.confFile = "x.yml" })}, // a unique prefix
		{[]string{"--c=x.yml"}, base(func(o *options) { o.confFile = "x.yml" })},       // nutcracker's before walnut's cpuprofile
		// As in nutcracker, not walnut's earlier Go flag syntax.
		{[]string{"-conf-file", "x.yml"}, base(func(o *options) { o.confFile, o.ignored = "onf-file", []string{"x.yml"} })},
		{[]string{"-c", "a", "-c", "b"}, base(func(o *options) { o.confFile = "b" })}, // the last wins
		{[]string{"-c", "-d"}, base(func(o *options) { o.confFile = "-d" })},          // an argument may start with '-'
		{[]string{"-dt"}, base(func(o *options) { o.daemonize, o.testConf = true, true })},
		{[]string{"-dtc", "f"}, base(func(o *options) { o.daemonize, o.testConf, o.confFile = true, true, "f" })},
		{[]string{"-dtcf"}, base(func(o *options) { o.daemonize, o.testConf, o.confFile = true, true, "f" })},
		{[]string{"-t", "--daemonize"}, base(func(o *options) { o.daemonize, o.testConf = true, true })},
		{[]string{"--test-conf"}, base(func(o *options) { o.testConf = true })},
		{[]string{"-test-conf"}, base(func(o *options) { o.testConf = true })}, // Go flag syntax, walnut's earlier parser
		{[]string{"-h"}, base(func(o *options) { o.help = true })},
		{[]string{"--help"}, base(func(o *options) { o.help = true })},
		{[]string{"-V"}, base(func(o *options) { o.showVersion = true })},
		{[]string{"--version"}, base(func(o *options) { o.walnutVersion = true })},
		{[]string{"-version"}, base(func(o *options) { o.walnutVersion = true })},
		{[]string{"-D"}, base(func(o *options) { o.describeStats = true })},
		{[]string{"--describe-stats"}, base(func(o *options) { o.describeStats = true })},
		{[]string{"-v", "7"}, base(func(o *options) { o.verbose = 7 })},
		{[]string{"-v0"}, base(func(o *options) { o.verbose = 0 })},
		{[]string{"--verbose=11"}, base(func(o *options) { o.verbose = 11 })},
		{[]string{"-v", "99"}, base(func(o *options) { o.verbose = 11 })}, // clamped, as nutcracker
		{[]string{"-v", "99999999999999999999999"}, base(func(o *options) { o.verbose = 11 })},
		{[]string{"-verbose", "3"}, base(func(o *options) { o.verbose = 3 })},
		{[]string{"-o", "log"}, base(func(o *options) { o.output = "log" })},
		{[]string{"-o", ""}, base(func(o *options) { o.output = "" })},
		{[]string{"--output=/var/log/w.log"}, base(func(o *options) { o.output = "/var/log/w.log" })},
		{[]string{"-s", "1"}, base(func(o *options) { o.statsPort = 1 })},
		{[]string{"--stats-port=65535"}, base(func(o *options) { o.statsPort = 65535 })},
		{[]string{"-a", "127.0.0.1"}, base(func(o *options) { o.statsAddr, o.statsAddrG = "127.0.0.1", true })},
		{[]string{"--stats-addr", "::1"}, base(func(o *options) { o.statsAddr, o.statsAddrG = "::1", true })},
		{[]string{"-i", "0"}, base(func(o *options) { o.statsIntvl = 0 })},
		{[]string{"--stats-interval=30000"}, base(func(o *options) { o.statsIntvl = 30000 })},
		{[]string{"-p", "w.pid"}, base(func(o *options) { o.pidFile = "w.pid" })},
		{[]string{"--pid-file=w.pid"}, base(func(o *options) { o.pidFile = "w.pid" })},
		{[]string{"-m", "512"}, base(func(o *options) { o.mbufSize = 512 })},
		{[]string{"-m16777216"}, base(func(o *options) { o.mbufSize = 16777216 })},
		{[]string{"--mbuf-size=65536"}, base(func(o *options) { o.mbufSize = 65536 })},
		{[]string{"--log-level", "debug"}, base(func(o *options) { o.logLevel = "debug" })},
		{[]string{"-log-level=warn"}, base(func(o *options) { o.logLevel = "warn" })},
		{[]string{"--log-format=json"}, base(func(o *options) { o.logFormat = "json" })},
		{[]string{"--log-f", "json"}, base(func(o *options) { o.logFormat = "json" })},
		{[]string{"--cpuprofile", "p.prof"}, base(func(o *options) { o.cpuProfile = "p.prof" })},
		{[]string{"-cpuprofile", "p.prof"}, base(func(o *options) { o.cpuProfile = "p.prof" })},
		// Arguments that are not options are ignored, as nutcracker does,
		// wherever they stand; "--" ends the options.
		{[]string{"extra", "-t", "-"}, base(func(o *options) { o.testConf, o.ignored = true, []string{"extra", "-"} })},
		{[]string{"--", "-t"}, base(func(o *options) { o.ignored = []string{"-t"} })},
		// The twemproxy test suite's command line.
		{strings.Fields("-d -c conf/nutcracker.conf -o log/nutcracker.log -p log/nutcracker.pid -s 5100 -v 5 -m 512 -i 1"),
			base(func(o *options) {
				o.daemonize, o.confFile, o.output, o.pidFile = true, "conf/nutcracker.conf", "log/nutcracker.log", "log/nutcracker.pid"
				o.statsPort, o.verbose, o.mbufSize, o.statsIntvl = 5100, 5, 512, 1
			})},
	}
	for _, c := range cases {
		got, err := parseArgs(c.args)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.args, got, c.want)
		}
	}
}

// Every error, with nutcracker's text where nutcracker has one.
func TestParseArgsErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-x"}, "invalid option -- 'x'"},
		{[]string{"-?"}, "invalid option -- '?'"},
		{[]string{"-dx"}, "invalid option -- 'x'"},
		{[]string{"-é"}, "invalid option -- 'é'"},
		{[]string{"--bogus"}, "unrecognized option '--bogus'"},
		{[]string{"--=x"}, "unrecognized option '--'"},
		{[]string{"--help=1"}, "option '--help' doesn't allow an argument"},
		{[]string{"--daemonize=yes"}, "option '--daemonize' doesn't allow an argument"},
		{[]string{"--stats"}, "option '--stats' is ambiguous; possibilities: '--stats-port' '--stats-interval' '--stats-addr'"},
		{[]string{"--ver"}, "option '--ver' is ambiguous; possibilities: '--version' '--verbose'"},
		{[]string{"--log", "x"}, "option '--log' is ambiguous; possibilities: '--log-level' '--log-format'"},
		{[]string{"-v"}, "option -v requires a number"},
		{[]string{"--verbose"}, "option -v requires a number"},
		{[]string{"-v", "abc"}, "option -v requires a number"},
		{[]string{"-v", "-1"}, "option -v requires a number"},
		{[]string{"-v", "+5"}, "option -v requires a number"},
		{[]string{"-v", " 5"}, "option -v requires a number"},
		{[]string{"-v", ""}, "option -v requires a number"},
		{[]string{"-s"}, "option -s requires a number"},
		{[]string{"-s", "abc"}, "option -s requires a number"},
		{[]string{"-s", "65535x"}, "option -s requires a number"},
		{[]string{"--stats-port=abc"}, "option -s requires a number"},
		{[]string{"-s", "0"}, "option -s value 0 is not a valid port"},
		{[]string{"-s", "70000"}, "option -s value 70000 is not a valid port"},
		{[]string{"-s", "099999999999999999999"}, "option -s value 99999999999999999999 is not a valid port"},
		{[]string{"-i"}, "option -i requires a number"},
		{[]string{"-i", "abc"}, "option -i requires a number"},
		{[]string{"-i", "-5"}, "option -i requires a number"},
		{[]string{"-m"}, "option -m requires a number"},
		{[]string{"-m", "0"}, "option -m requires a non-zero number"},
		{[]string{"-m", "abc"}, "option -m requires a non-zero number"},
		{[]string{"-m", "100"}, "mbuf chunk size must be between 512 and 16777216 bytes"},
		{[]string{"-m", "511"}, "mbuf chunk size must be between 512 and 16777216 bytes"},
		{[]string{"-m", "16777217"}, "mbuf chunk size must be between 512 and 16777216 bytes"},
		{[]string{"-m", "99999999999999999999"}, "mbuf chunk size must be between 512 and 16777216 bytes"},
		{[]string{"-o"}, "option -o requires a file name"},
		{[]string{"-c"}, "option -c requires a file name"},
		{[]string{"--conf-file"}, "option -c requires a file name"},
		{[]string{"-p"}, "option -p requires a file name"},
		{[]string{"-a"}, "option -a requires a string"},
		{[]string{"--log-level"}, "option '--log-level' requires an argument"},
		{[]string{"-c", "x", "convert"}, "convert must come first: walnut convert FILE.yml"},
		{[]string{"-c", "x", "reshard"}, "reshard must come first: walnut reshard --to NEW.toml ..."},
	}
	for _, c := range cases {
		_, err := parseArgs(c.args)
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: error %v, want %q", c.args, err, c.want)
		}
		if _, ok := err.(usageError); err != nil && !ok {
			t.Errorf("%q: %T is not a usage error", c.args, err)
		}
	}
}

func TestStatsListen(t *testing.T) {
	cases := []struct {
		args       []string
		configured string
		yaml       bool
		want       string
	}{
		{nil, "", false, ""},
		{nil, "127.0.0.1:9000", false, "127.0.0.1:9000"},
		{nil, "", true, "0.0.0.0:22222"},
		{nil, "127.0.0.1:9000", true, "127.0.0.1:9000"}, // a YAML file cannot say, but keep it general
		{[]string{"-s", "5100"}, "", true, "0.0.0.0:5100"},
		{[]string{"-s", "5100"}, "", false, "0.0.0.0:5100"},
		{[]string{"-a", "127.0.0.1"}, "", false, "127.0.0.1:22222"},
		{[]string{"-a", "127.0.0.1", "-s", "5100"}, "", true, "127.0.0.1:5100"},
		{[]string{"-s", "5100"}, "10.0.0.1:9000", false, "10.0.0.1:5100"},
		{[]string{"-a", "::1"}, "10.0.0.1:9000", false, "[::1]:9000"},
	}
	for _, c := range cases {
		o, err := parseArgs(c.args)
		if err != nil {
			t.Fatal(err)
		}
		if got := o.statsListen(c.configured, c.yaml); got != c.want {
			t.Errorf("%q, configured %q, yaml %v: %q, want %q", c.args, c.configured, c.yaml, got, c.want)
		}
	}
}
