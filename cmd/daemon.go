package walnutcmd

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// -d: a Go program cannot fork without exec, so walnut daemonizes by
// starting itself again, with the same arguments and working directory,
// in a new session, with /dev/null for stdin, stdout and stderr. The
// foreground process checks the configuration first, then waits until
// the daemon says it serves (or why it could not), and exits 0 or 1
// accordingly: an init script learns of a failure from the exit status,
// not from a log file later.
//
// The daemon is told so by daemonEnv, which names the descriptor of a
// pipe to report on. It unsets it at once, so that neither its plugins
// nor a binary upgrade (SIGUSR2, which starts the same command line)
// inherit it: an upgraded walnut finds the listeners it inherits
// instead, and neither daemonizes again nor reports to anybody; it stays
// in the daemon's session, with no terminal and /dev/null for stdio.
const daemonEnv = "WALNUT_DAEMON_READY"

// Messages on the readiness pipe: the first line, then for an error the
// reason.
const (
	readyOK    = "READY"
	readyError = "ERROR"
)

// readiness is the daemon's end of the pipe the foreground process
// waits on; nil when this process is no daemon just started by -d.
type readiness struct{ f *os.File }

// readinessFromEnv returns the pipe to report on if this process is a
// daemon started by -d.
func readinessFromEnv() *readiness {
	v, ok := os.LookupEnv(daemonEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(daemonEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	// Plugins and upgrades must not hold the pipe open: the foreground
	// process waits for its end.
	syscall.CloseOnExec(fd)
	return &readiness{f: os.NewFile(uintptr(fd), "walnut-readiness")}
}

// ready tells the foreground process that walnut serves.
func (r *readiness) ready() { r.send(readyOK + "\n") }

// fail tells the foreground process why walnut could not start.
func (r *readiness) fail(reason string) {
	r.send(readyError + "\n" + strings.TrimRight(reason, "\n") + "\n")
}

func (r *readiness) send(msg string) {
	if r == nil || r.f == nil {
		return
	}
	io.WriteString(r.f, msg)
	r.f.Close()
	r.f = nil
}

// daemonize starts this program again as a daemon, with args, and waits
// until it serves: it returns the exit status for the foreground
// process.
func daemonize(args []string, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "walnut: cannot daemonize: %v\n", err)
		return 1
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "walnut: cannot daemonize: %v\n", err)
		return 1
	}
	defer pr.Close()
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = os.Args[0]
	// The pipe is the first of ExtraFiles: descriptor 3.
	cmd.Env = append(os.Environ(), daemonEnv+"=3")
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// Stdin, Stdout and Stderr left nil are /dev/null; Dir left empty is
	// this process's working directory, so relative paths keep working.
	err = cmd.Start()
	pw.Close()
	if err != nil {
		fmt.Fprintf(stderr, "walnut: cannot daemonize: %v\n", err)
		return 1
	}
	msg, _ := io.ReadAll(pr)
	status, reason, _ := strings.Cut(string(msg), "\n")
	switch status {
	case readyOK:
		cmd.Process.Release()
		return 0
	case readyError:
		fmt.Fprint(stderr, reason)
		cmd.Process.Release()
		return 1
	}
	err = cmd.Wait()
	fmt.Fprintf(stderr, "walnut: the daemon (pid %d) exited before it served: %v\n", cmd.Process.Pid, err)
	return 1
}

// pidFile is the file of -p, holding walnut's pid.
type pidFile struct {
	name string
	pid  int
	// keep leaves the file at exit: a binary upgrade has handed it over
	// to the new process.
	keep bool
}

// writePidFile writes the pid, in decimal and with a newline, to name.
func writePidFile(name string) (*pidFile, error) {
	pid := os.Getpid()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening pid file '%s' failed: %s", name, errText(err))
	}
	_, err = f.WriteString(strconv.Itoa(pid) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write to pid file '%s' failed: %s", name, errText(err))
	}
	return &pidFile{name: name, pid: pid}, nil
}

// remove deletes the file at exit, if it still holds this process's pid:
// a file another process has taken over since is left alone.
func (p *pidFile) remove() error {
	if p == nil || p.keep {
		return nil
	}
	b, err := os.ReadFile(p.name)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if strings.TrimSpace(string(b)) != strconv.Itoa(p.pid) {
		return nil
	}
	return os.Remove(p.name)
}
