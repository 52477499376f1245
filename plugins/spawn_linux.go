package plugins

import (
	"os/exec"
	"syscall"
)

// dieWithParent asks Linux to send the plugin SIGTERM when walnut dies,
// however it dies (SIGKILL, a crash), so that no plugin outlives it.
// The signal is tied to the thread that forked the child, not to the
// process: see spawner.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
