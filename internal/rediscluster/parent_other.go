//go:build !linux

package rediscluster

import "os/exec"

// setParentDeath does nothing where the kernel cannot tie a child's life to
// its parent's; Stop still stops the nodes.
func setParentDeath(*exec.Cmd) {}
