package testbed

import "syscall"

// procAttr makes a server die with the test binary, so that a test that
// crashes leaves no process behind.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
