package rediscluster

import (
	"os/exec"
	"syscall"
)

// setParentDeath has the kernel kill the node when the test binary dies
// without running its cleanups (a test timeout, a SIGKILL), so no
// redis-server outlives the test that started it.
func setParentDeath(p *exec.Cmd) {
	p.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
