// Package archtest holds the test of cxbot's import rule: the domain (flows)
// at the centre, adapters around it, storage wired only by cmd/cxbot. It has
// no code of its own; docs/architecture.md explains the layers it checks.
package archtest
