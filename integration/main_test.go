package integration

import (
	"os"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	// Thousands of clients, and walnut in this process serving them,
	// need more descriptors than the usual soft limit of 1024.
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	os.Exit(m.Run())
}
