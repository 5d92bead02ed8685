#!/bin/bash
# isolated namespace: only loopback; documentation prefixes routed to unreachable/prohibit/blackhole.
set -e
ip netns add cdgen 2>/dev/null || true
ip netns exec cdgen ip link set lo up
ip netns exec cdgen ip addr add 127.0.0.2/8 dev lo 2>/dev/null || true
ip netns exec cdgen ip -6 addr add ::1/128 dev lo 2>/dev/null || true
ip netns exec cdgen ip route add unreachable 203.0.113.0/25 2>/dev/null || true
ip netns exec cdgen ip route add prohibit 203.0.113.128/26 2>/dev/null || true
ip netns exec cdgen ip route add blackhole 203.0.113.192/26 2>/dev/null || true
# port 7070 on loopback: silently dropped (timeout); 7071: REJECT with icmp-admin-prohibited
ip netns exec cdgen iptables -C INPUT -p tcp --dport 1 -j ACCEPT 2>/dev/null; ip netns exec cdgen iptables -A INPUT -p tcp --dport 7070 -j DROP
ip netns exec cdgen iptables -C INPUT -p tcp --dport 1 -j ACCEPT 2>/dev/null; ip netns exec cdgen iptables -A INPUT -p tcp --dport 7071 -j REJECT --reject-with icmp-admin-prohibited
# outgoing: 7072 dropped in OUTPUT (client firewall)
ip netns exec cdgen iptables -C INPUT -p tcp --dport 1 -j ACCEPT 2>/dev/null; ip netns exec cdgen iptables -A OUTPUT -p tcp --dport 7072 -j DROP
mkdir -p /etc/netns/cdgen
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n127.0.0.1 app.test\n' > /etc/netns/cdgen/hosts
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > /etc/netns/cdgen/resolv.conf
