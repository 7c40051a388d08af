package cards

import "golang.org/x/sys/unix"

func sameDevNumber(devPath string, m Mount) bool {
	var st unix.Stat_t
	if err := unix.Stat(devPath, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return false
	}
	return unix.Major(uint64(st.Rdev)) == m.Major && unix.Minor(uint64(st.Rdev)) == m.Minor
}
