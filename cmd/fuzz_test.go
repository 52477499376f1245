package walnutcmd

import (
	"strings"
	"testing"
)

// FuzzParseArgs feeds command lines (split at spaces) to the
// nutcracker-style option parser: it must never panic, and it either
// returns options or an error.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"-d -c /etc/nutcracker.yml -o /var/log/n.log -p /run/n.pid -s 22222 -a 127.0.0.1 -v 5 -m 16384 -i 30000",
		"-dt", "--conf-file=x.yml", "--conf-file x.yml", "-cx.yml", "-v", "-s 0", "-m 100", "--stats",
		"--help=1", "convert a.yml", "reshard --to b.toml", "-- -x", "-V -t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		o, err := parseArgs(strings.Fields(line))
		if (o == nil) == (err == nil) {
			t.Fatalf("%q: options %v, error %v", line, o, err)
		}
	})
}
