package config_test

import (
	"strings"
	"testing"

	"github.com/walnutproxy/walnut/config"
)

func TestMaxDedicated(t *testing.T) {
	const pool = "[pools.a]\nlisten = \"127.0.0.1:1\"\nservers = [\"127.0.0.1:6379:1\"]\n"
	cfg, err := config.Parse("w.toml", []byte(pool))
	if err != nil || cfg.Pools[0].MaxDedicated != config.DefaultMaxDedicated {
		t.Fatalf("default: %v, %v", cfg, err)
	}
	cfg, err = config.Parse("w.toml", []byte(pool+"max_dedicated = 3\n"))
	if err != nil || cfg.Pools[0].MaxDedicated != 3 {
		t.Fatalf("max_dedicated = 3: %v, %v", cfg, err)
	}
	for _, bad := range []string{"max_dedicated = 0", "max_dedicated = \"10\""} {
		_, err := config.Parse("w.toml", []byte(pool+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "pools.a.max_dedicated") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
