// Package archtest holds no code: its test checks that the import graph keeps
// the arrows of DESIGN.md (see arch_test.go for the rule table).
package archtest
