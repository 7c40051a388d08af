//go:build race

package main_test

// raceBuild: under `go test -race` the daemon binary is built with -race
// too, so the end-to-end tests race-check the real process.
const raceBuild = true
