package target

import (
	"fmt"
	"net"
	"strconv"
)

// interfaceExists reports whether zone names an interface of this machine,
// by name or by index, as the kernel takes an IPv6 scope; swappable for tests.
var interfaceExists = func(zone string) bool {
	if i, err := strconv.Atoi(zone); err == nil {
		_, err := net.InterfaceByIndex(i)
		return err == nil
	}
	_, err := net.InterfaceByName(zone)
	return err == nil
}

// CheckZone reports a zoned IPv6 target ([fe80::1%25eth0]) whose zone names
// no interface of this machine: the connect could only fail with EINVAL,
// which says nothing about the network, so it is bad input.
func CheckZone(t Target) error {
	a, ok := t.IP()
	if !ok || a.Zone() == "" {
		return nil
	}
	if interfaceExists(a.Zone()) {
		return nil
	}
	e := reason("platform.target.zone_unknown", "Zone", fmt.Sprintf("%q", a.Zone()))
	e.Input = t.Raw
	return e
}
