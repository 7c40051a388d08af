package hubstore

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendQueue is the number of bytes c's socket has not yet had acknowledged
// (SIOCOUTQ), or -1 when unknown.
func sendQueue(c net.Conn) int64 {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	q := int64(-1)
	_ = raw.Control(func(fd uintptr) {
		if n, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil {
			q = int64(n)
		}
	})
	return q
}
