//go:build linux

package core

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// On any system but Linux, building walnut fails with one message that
// says why, not with the undefined epoll symbols of every core file.
func TestOtherSystemsGetOneClearMessage(t *testing.T) {
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Env = append(os.Environ(), "GOOS=darwin", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("core builds for darwin; it should refuse to")
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "undefined: walnut_needs_Linux_its_event_loops_are_built_on_epoll") {
		t.Fatalf("go build for darwin says:\n%s", out)
	}
}
