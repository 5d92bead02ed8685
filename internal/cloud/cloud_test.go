package cloud

import (
	"testing"
	"testing/fstest"
)

func dmiFS(fields map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range fields {
		m["sys/class/dmi/id/"+k] = &fstest.MapFile{Data: []byte(v + "\n"), Mode: 0o444}
	}
	return m
}

// The values are those the providers document or that FACTS.md records.
func TestIdentify(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]string
		want   string
	}{
		{"aws nitro", map[string]string{"sys_vendor": "Amazon EC2", "product_name": "t3.micro", "bios_vendor": "Amazon EC2"}, AWS},
		{"aws xen", map[string]string{"sys_vendor": "Xen", "product_name": "HVM domU", "product_version": "4.11.amazon", "bios_vendor": "Xen"}, AWS},
		{"google", map[string]string{"sys_vendor": "Google", "product_name": "Google Compute Engine", "bios_vendor": "Google"}, Google},
		{"azure", map[string]string{"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine", "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77"}, Azure},
		{"hyper-v, not azure", map[string]string{"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine", "chassis_asset_tag": "0000-0000"}, ""},
		{"alibaba", map[string]string{"sys_vendor": "Alibaba Cloud", "product_name": "Alibaba Cloud ECS"}, Alibaba},
		{"tencent", map[string]string{"sys_vendor": "Tencent Cloud", "product_name": "CVM"}, Tencent},
		{"huawei", map[string]string{"sys_vendor": "OpenStack Foundation", "product_name": "OpenStack Nova", "chassis_asset_tag": "HUAWEICLOUD"}, Huawei},
		{"oracle", map[string]string{"sys_vendor": "QEMU", "product_name": "Standard PC (i440FX + PIIX, 1996)", "chassis_asset_tag": "OracleCloud.com"}, Oracle},
		{"digitalocean", map[string]string{"sys_vendor": "DigitalOcean", "product_name": "Droplet"}, DigitalOcean},
		{"hetzner", map[string]string{"sys_vendor": "Hetzner", "product_name": "vServer"}, Hetzner},
		{"vultr", map[string]string{"sys_vendor": "Vultr", "product_name": "VC2"}, Vultr},
		{"linode", map[string]string{"sys_vendor": "Linode", "product_name": "Compute Instance"}, Linode},
		{"plain kvm", map[string]string{"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}, ""},
		{"bare metal", map[string]string{"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R640"}, ""},
	}
	for _, tt := range tests {
		d := ReadDMI(dmiFS(tt.fields))
		if got := Identify(d); got != tt.want {
			t.Errorf("%s: Identify(%+v) = %q, want %q", tt.name, d, got, tt.want)
		}
	}
	if d := ReadDMI(fstest.MapFS{}); !d.Empty() || Identify(d) != "" {
		t.Errorf("no DMI: %+v", d)
	}
}

func TestDetectPanel(t *testing.T) {
	if p := DetectPanel(fstest.MapFS{}); p != nil {
		t.Errorf("nothing installed: %+v", p)
	}
	fsys := fstest.MapFS{
		"www/server/panel/class/panelSite.py": {Data: []byte("#")},
		"www/server/panel/data/port.pl":       {Data: []byte("8888\n")},
	}
	if p := DetectPanel(fsys); p == nil || p.ID != "baota" || p.Port != "8888" {
		t.Errorf("baota: %+v", p)
	}
	if p := DetectPanel(fstest.MapFS{"etc/init.d/bt": {Data: []byte("#!/bin/bash")}}); p == nil || p.Port != "" {
		t.Errorf("init script only: %+v", p)
	}
}
