package capture

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Snap is how much of each packet the filter keeps: the IP header with
// options or extension headers, and the TCP header.
const Snap = 256

// maxFilterPorts is the most ports the filter tests itself; classic BPF
// jumps are at most 255 instructions, so more are checked in user space.
const maxFilterPorts = 100

// packetOutgoing is PACKET_OUTGOING, the sll_pkttype of packets the host sends.
const packetOutgoing = 4

// Filter assembles the classic BPF program for a SOCK_DGRAM packet socket
// (packets start at the IP header): it keeps inbound SYNs to ports and
// outgoing SYN-ACKs and RSTs from them, and drops everything else. With no
// ports, or more than the filter can test, every port passes.
func Filter(ports []uint16) ([]bpf.RawInstruction, error) {
	return program(ports, bpf.LoadExtension{Num: bpf.ExtType})
}

// program takes the instruction that loads the packet type, so tests can
// run it in x/net/bpf's VM, which has no extensions.
func program(ports []uint16, loadType bpf.Instruction) ([]bpf.RawInstruction, error) {
	if len(ports) > maxFilterPorts {
		ports = nil
	}
	a := &asm{labels: map[string]int{}}
	a.op(loadType)
	a.op(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	a.op(bpf.LoadAbsolute{Off: 0, Size: 1})
	a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	a.jumpIf(bpf.JumpEqual, 0x40, "", "v6")
	// IPv4: TCP, not a later fragment; X = header length.
	a.op(bpf.LoadAbsolute{Off: 9, Size: 1})
	a.jumpIf(bpf.JumpEqual, 6, "", "drop")
	a.op(bpf.LoadAbsolute{Off: 6, Size: 2})
	a.jumpIf(bpf.JumpBitsSet, 0x1fff, "drop", "")
	a.op(bpf.LoadMemShift{Off: 0})
	a.jump("tcp")
	a.label("v6")
	// IPv6 with TCP right after the fixed header (extension headers before
	// a SYN are rare enough to leave out).
	a.jumpIf(bpf.JumpEqual, 0x60, "", "drop")
	a.op(bpf.LoadAbsolute{Off: 6, Size: 1})
	a.jumpIf(bpf.JumpEqual, 6, "", "drop")
	a.op(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	a.label("tcp")
	a.op(bpf.LoadIndirect{Off: 13, Size: 1})
	a.op(bpf.StoreScratch{Src: bpf.RegA, N: 1})
	a.op(bpf.LoadIndirect{Off: 0, Size: 2})
	a.op(bpf.StoreScratch{Src: bpf.RegA, N: 2})
	a.op(bpf.LoadIndirect{Off: 2, Size: 2})
	a.op(bpf.StoreScratch{Src: bpf.RegA, N: 3})
	a.op(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
	a.jumpIf(bpf.JumpEqual, packetOutgoing, "out", "")
	// Inbound: a SYN without ACK to one of the ports.
	a.op(bpf.LoadScratch{Dst: bpf.RegA, N: 1})
	a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: flagSYN | flagACK})
	a.jumpIf(bpf.JumpEqual, flagSYN, "", "drop")
	a.op(bpf.LoadScratch{Dst: bpf.RegA, N: 3})
	a.ports(ports)
	a.label("out")
	// Outgoing: an RST, or a SYN-ACK, from one of the ports.
	a.op(bpf.LoadScratch{Dst: bpf.RegA, N: 1})
	a.jumpIf(bpf.JumpBitsSet, flagRST, "outport", "")
	a.op(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: flagSYN | flagACK})
	a.jumpIf(bpf.JumpEqual, flagSYN|flagACK, "", "drop")
	a.label("outport")
	a.op(bpf.LoadScratch{Dst: bpf.RegA, N: 2})
	a.ports(ports)
	a.label("accept")
	a.op(bpf.RetConstant{Val: Snap})
	a.label("drop")
	a.op(bpf.RetConstant{Val: 0})
	return a.assemble()
}

// asm is a tiny assembler with forward labels.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	fix    []fixup
}

type fixup struct {
	at          int
	true, false string
	always      string
}

func (a *asm) op(i bpf.Instruction) { a.ins = append(a.ins, i) }
func (a *asm) label(name string)    { a.labels[name] = len(a.ins) }

func (a *asm) jumpIf(c bpf.JumpTest, v uint32, onTrue, onFalse string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), true: onTrue, false: onFalse})
	a.op(bpf.JumpIf{Cond: c, Val: v})
}

func (a *asm) jump(to string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), always: to})
	a.op(bpf.Jump{})
}

// ports tests A against each port and goes to accept or drop.
func (a *asm) ports(ports []uint16) {
	for _, p := range ports {
		a.jumpIf(bpf.JumpEqual, uint32(p), "accept", "")
	}
	if len(ports) == 0 {
		a.jump("accept")
		return
	}
	a.jump("drop")
}

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	skip := func(from int, label string) (uint32, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok || to <= from {
			return 0, fmt.Errorf("capture: bpf label %q", label)
		}
		return uint32(to - from - 1), nil
	}
	for _, f := range a.fix {
		if f.always != "" {
			s, err := skip(f.at, f.always)
			if err != nil {
				return nil, err
			}
			a.ins[f.at] = bpf.Jump{Skip: s}
			continue
		}
		j := a.ins[f.at].(bpf.JumpIf)
		st, err1 := skip(f.at, f.true)
		sf, err2 := skip(f.at, f.false)
		if err1 != nil || err2 != nil || st > 255 || sf > 255 {
			return nil, fmt.Errorf("capture: bpf jump out of range")
		}
		j.SkipTrue, j.SkipFalse = uint8(st), uint8(sf)
		a.ins[f.at] = j
	}
	return bpf.Assemble(a.ins)
}
