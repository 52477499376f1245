package walnutcmd

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/walnutproxy/walnut/config"
)

// runConvert is `walnut convert FILE.yml`: it prints the nutcracker YAML
// configuration FILE.yml as walnut TOML, every key written out, so that
// `walnut -c FILE.toml` runs as `walnut -c FILE.yml` did.
func runConvert(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		writeConvertUsage(stdout)
		return 0
	}
	if len(args) != 1 || args[0] == "" {
		writeConvertUsage(stderr)
		return 1
	}
	path := args[0]
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "%v\nwalnut: cannot convert '%s'\n", err, path)
		return 1
	}
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "walnut: %v\n", err)
		return 1
	}
	yaml := config.IsYAML(path, data)
	if yaml && cfg.Stats.Listen == "" {
		// What walnut (and nutcracker) serve for a YAML file without -a
		// and -s; a TOML file has to say it.
		cfg.Stats.Listen = net.JoinHostPort(nutcrackerStatsAddr, strconv.Itoa(nutcrackerStatsPort))
	}
	out, err := config.EncodeTOML(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "walnut: %s: %v\n", path, err)
		return 1
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# walnut configuration, converted from %s by walnut %s (walnut convert).\n", path, Version)
	if yaml {
		b.WriteString("# Durations are nutcracker's milliseconds written as durations; keys nutcracker\n" +
			"# lacks are at walnut's defaults. See docs/configuration.md for each key.\n")
	}
	b.WriteByte('\n')
	b.Write(out)
	io.WriteString(stdout, b.String())
	return 0
}

func writeConvertUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: walnut convert FILE.yml\n\n"+
		"Prints the nutcracker YAML configuration FILE.yml as walnut TOML on stdout,\n"+
		"every key written out: walnut -c FILE.toml then runs as walnut -c FILE.yml did.\n")
}
