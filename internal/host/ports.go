package host

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// RangeSource names where EphemeralRange reads the range on each system,
// for evidence lines and fixes ("" where it cannot be read).
func RangeSource(goos string) string {
	switch goos {
	case "linux":
		return "net.ipv4.ip_local_port_range"
	case "darwin", "freebsd":
		return "net.inet.ip.portrange.first/last"
	case "windows":
		return "netsh int ipv4 show dynamicport tcp"
	}
	return ""
}

// maxNetshOutput bounds what ParseDynamicPorts reads: netsh prints four short lines.
const maxNetshOutput = 64 << 10

// ParseDynamicPorts reads the output of "netsh int ipv4 show dynamicport tcp":
//
//	Protocol tcp Dynamic Port Range
//	---------------------------------
//	Start Port      : 49152
//	Number of Ports : 16384
//
// netsh translates the labels ("Startport", "起始端口"), so the numbers are
// taken by their order: the first "label : number" line is the start, the
// second the count.
func ParseDynamicPorts(out string) (PortRange, error) {
	if len(out) > maxNetshOutput {
		return PortRange{}, fmt.Errorf("host: netsh printed %d bytes, not a port range", len(out))
	}
	var nums []int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() && len(nums) < 2 {
		_, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 || n > 65535 {
			continue
		}
		nums = append(nums, n)
	}
	if len(nums) < 2 {
		return PortRange{}, fmt.Errorf("host: netsh printed no start port and number of ports")
	}
	start, count := nums[0], nums[1]
	if start < 1 || count < 1 || start+count-1 > 65535 {
		return PortRange{}, fmt.Errorf("host: netsh range start %d, %d ports: not within 1-65535", start, count)
	}
	return PortRange{Lo: start, Hi: start + count - 1}, nil
}

// BSDRange orders net.inet.ip.portrange.first and .last: the BSDs accept first > last and then count down.
func BSDRange(first, last int) (PortRange, error) {
	lo, hi := min(first, last), max(first, last)
	if lo < 1 || hi > 65535 {
		return PortRange{}, fmt.Errorf("host: port range %d-%d is not within 1-65535", first, last)
	}
	return PortRange{Lo: lo, Hi: hi}, nil
}
