package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds configuration files, as TOML and as nutcracker YAML, to
// Parse: it must never panic, and whatever it refuses it refuses naming
// the file.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/nutcracker/*/*.yml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("[pools.a]\nlisten = \"127.0.0.1:22121\"\nservers = [\"127.0.0.1:6379:1\"]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, path := range []string{"fuzz.yml", "fuzz.toml"} {
			cfg, err := Parse(path, data)
			if err != nil {
				if !strings.Contains(err.Error(), path) {
					t.Fatalf("%s: error without the file's name: %v", path, err)
				}
				continue
			}
			if cfg == nil {
				t.Fatalf("%s: no configuration and no error", path)
			}
		}
	})
}
