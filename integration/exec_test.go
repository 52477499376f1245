package integration

import (
	"os/exec"
	"strconv"
	"strings"
)

func runCmd(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

func splitAddr(addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

func itoa(n int) string { return strconv.Itoa(n) }
