// Package cloud recognises the cloud provider a host runs on, from the DMI
// data the hypervisor presents (/sys/class/dmi/id, world-readable), and
// hosting panels installed on it. Both matter because their firewalls (a
// security group, a panel's port list) stand in front of the host's own and
// cannot be seen from the host.
package cloud

import (
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Provider IDs.
const (
	AWS          = "aws"
	Google       = "google"
	Azure        = "azure"
	Alibaba      = "alibaba"
	Tencent      = "tencent"
	Huawei       = "huawei"
	Oracle       = "oracle"
	DigitalOcean = "digitalocean"
	Hetzner      = "hetzner"
	Vultr        = "vultr"
	Linode       = "linode"
)

// DMI is the identifying part of /sys/class/dmi/id.
type DMI struct {
	SysVendor, ProductName, ProductVersion, BIOSVendor, BoardVendor, ChassisAssetTag string
}

// Empty reports whether no DMI data was found (containers, some VMs, non-x86 boards).
func (d DMI) Empty() bool { return d == DMI{} }

// maxField bounds what is read of one DMI or panel file: sysfs shows at
// most a page, and no vendor string comes near this.
const maxField = 1024

// readField reads at most maxField bytes of one small file, trimmed. The
// bytes are the firmware's or a file's: they are escaped where they are shown.
func readField(fsys fs.FS, name string) string {
	f, err := fsys.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxField))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// ReadDMI reads the DMI fields under fsys ("sys/class/dmi/id/...").
func ReadDMI(fsys fs.FS) DMI {
	read := func(name string) string { return readField(fsys, "sys/class/dmi/id/"+name) }
	return DMI{
		SysVendor: read("sys_vendor"), ProductName: read("product_name"), ProductVersion: read("product_version"),
		BIOSVendor: read("bios_vendor"), BoardVendor: read("board_vendor"), ChassisAssetTag: read("chassis_asset_tag"),
	}
}

// Identify names the provider the DMI data shows, or "" for none.
func Identify(d DMI) string {
	has := func(s, sub string) bool { return strings.Contains(strings.ToLower(s), strings.ToLower(sub)) }
	switch {
	// Asset tags first: they are specific where the vendor is generic.
	case d.ChassisAssetTag == "7783-7084-3265-9085-8269-3286-77":
		return Azure
	case has(d.ChassisAssetTag, "HUAWEICLOUD"):
		return Huawei
	case has(d.ChassisAssetTag, "OracleCloud.com"):
		return Oracle
	case has(d.SysVendor, "Amazon EC2") || has(d.BoardVendor, "Amazon EC2") || has(d.ProductVersion, "amazon") || has(d.BIOSVendor, "Amazon EC2"):
		return AWS
	case has(d.ProductName, "Google Compute Engine") || has(d.SysVendor, "Google"):
		return Google
	case has(d.ProductName, "Alibaba Cloud") || has(d.SysVendor, "Alibaba Cloud"):
		return Alibaba
	case has(d.SysVendor, "Tencent Cloud") || has(d.ProductName, "Tencent Cloud"):
		return Tencent
	case has(d.SysVendor, "Huawei Cloud"):
		return Huawei
	case has(d.SysVendor, "DigitalOcean"):
		return DigitalOcean
	case has(d.SysVendor, "Hetzner"):
		return Hetzner
	case has(d.SysVendor, "Vultr"):
		return Vultr
	case has(d.SysVendor, "Linode") || has(d.SysVendor, "Akamai"):
		return Linode
	}
	return ""
}

// Panel is a hosting control panel installed on the host.
type Panel struct {
	ID   string // "baota"
	Port string // the panel's own web port (1-65535), when known
}

// DetectPanel looks for BaoTa (宝塔) / aaPanel under fsys, the root file system.
func DetectPanel(fsys fs.FS) *Panel {
	_, err1 := fs.Stat(fsys, "www/server/panel")
	_, err2 := fs.Stat(fsys, "etc/init.d/bt")
	if err1 != nil && err2 != nil {
		return nil
	}
	p := &Panel{ID: "baota"}
	port := readField(fsys, "www/server/panel/data/port.pl")
	if n, err := strconv.ParseUint(port, 10, 16); err == nil && n > 0 {
		p.Port = strconv.FormatUint(n, 10)
	}
	return p
}

// Root is the file system of this host.
func Root() fs.FS { return os.DirFS("/") }
