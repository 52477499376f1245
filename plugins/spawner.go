package plugins

import "runtime"

// spawner starts plugin processes from one OS thread that lives until
// the Host closes. Linux delivers a child's parent-death signal when the
// thread that forked it exits, not the process; a goroutine may run on
// any thread, and the Go runtime ends a thread whose locked goroutine
// returns, so a plugin forked from an arbitrary goroutine could get
// SIGTERM while walnut runs on (golang/go#27505).
type spawner struct{ jobs chan func() }

func newSpawner() *spawner {
	s := &spawner{jobs: make(chan func())}
	go func() {
		// Never unlocked: when close ends this goroutine its thread
		// exits with it, and any plugin still alive gets its signal.
		runtime.LockOSThread()
		for f := range s.jobs {
			f()
		}
	}()
	return s
}

// do runs f on the spawner's thread and waits for it.
func (s *spawner) do(f func()) {
	done := make(chan struct{})
	s.jobs <- func() { f(); close(done) }
	<-done
}

func (s *spawner) close() { close(s.jobs) }
