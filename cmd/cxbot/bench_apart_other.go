//go:build !linux

package main

import "syscall"

// apartProcAttr: only Linux can tie the child's life to the bench's.
func apartProcAttr() *syscall.SysProcAttr { return nil }
