//go:build !linux

package s3push

import "net"

// sendQueue is unknown off Linux: a stall is judged by reads and writes only.
func sendQueue(net.Conn) int64 { return -1 }
