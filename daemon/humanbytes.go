package daemon

import (
	"fmt"
	"strconv"
)

// HumanBytes formats a size with binary units: 0 B, 1023 B, 1.5 KiB, 2.0 GiB.
func HumanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		f /= 1024
		if f < 1024 || u == "PiB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return ""
}
