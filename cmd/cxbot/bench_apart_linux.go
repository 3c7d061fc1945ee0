package main

import "syscall"

// apartProcAttr makes the kernel stop the child if the bench dies without
// cleaning up (SIGKILL), so no orphaned cxbot serve keeps its port and
// connections. (Linux sends it when the thread that started the child
// ends; Go keeps its threads, and a child stopped early fails the run
// visibly with its exit status.)
func apartProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
