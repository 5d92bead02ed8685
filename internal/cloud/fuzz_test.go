package cloud

import (
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzReadDMI feeds hostile firmware strings and panel files (escapes,
// bidi, binary, overlong) to ReadDMI, Identify and DetectPanel: they never
// panic, every field is bounded, and Identify's answer is one of the providers.
func FuzzReadDMI(f *testing.F) {
	f.Add("Amazon EC2\n", "t3.micro", "7783-7084-3265-9085-8269-3286-77", "8888\n")
	f.Add("Tencent Cloud\x1b]0;pwned\x07", "CVM\r\n$ curl x|sh", "HUAWEICLOUD\u202e", "8888\x1b[2J")
	f.Add("\xff\xfe\x00", "\x00", "", "-1")
	f.Add(strings.Repeat("Google ", 2000), strings.Repeat("x", 1<<16), "OracleCloud.com", "99999999")
	f.Add("  Hetzner  \t", "vServer", "\u2066\u2069", " 0443 ")
	f.Add("İ", "K", "ǅ", "65536") // case mappings that change the length
	providers := map[string]bool{"": true, AWS: true, Google: true, Azure: true, Alibaba: true, Tencent: true,
		Huawei: true, Oracle: true, DigitalOcean: true, Hetzner: true, Vultr: true, Linode: true}
	f.Fuzz(func(t *testing.T, vendor, product, tag, port string) {
		m := fstest.MapFS{
			"sys/class/dmi/id/sys_vendor":        {Data: []byte(vendor)},
			"sys/class/dmi/id/product_name":      {Data: []byte(product)},
			"sys/class/dmi/id/product_version":   {Data: []byte(product)},
			"sys/class/dmi/id/bios_vendor":       {Data: []byte(vendor)},
			"sys/class/dmi/id/board_vendor":      {Data: []byte(vendor)},
			"sys/class/dmi/id/chassis_asset_tag": {Data: []byte(tag)},
			"www/server/panel/data/port.pl":      {Data: []byte(port)},
		}
		d := ReadDMI(m)
		for _, s := range []string{d.SysVendor, d.ProductName, d.ProductVersion, d.BIOSVendor, d.BoardVendor, d.ChassisAssetTag} {
			if len(s) > maxField || s != strings.TrimSpace(s) {
				t.Fatalf("field of %d bytes: %q", len(s), s[:min(len(s), 80)])
			}
		}
		if got := Identify(d); !providers[got] {
			t.Fatalf("Identify = %q", got)
		}
		p := DetectPanel(m)
		if p == nil {
			t.Fatal("panel not found")
		}
		if p.Port != "" {
			if n, err := strconv.Atoi(p.Port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p.Port {
				t.Fatalf("panel port %q from %q", p.Port, port)
			}
		}
	})
}
