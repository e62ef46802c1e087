#!/usr/bin/env python3
"""Write a keepalived.conf with many real servers, for the config bench.

Usage: gen_config.py [REAL_SERVERS] [PER_VS] > big.conf
Defaults: 100000 real servers, 100 per virtual server (about 8.5 MB).
Every real server has a TCP_CHECK; every tenth an HTTP_GET instead.
"""
import sys


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    per_vs = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    out = sys.stdout
    out.write("global_defs {\n\trouter_id bench\n}\n\n")
    n = 0
    vs = 0
    while n < total:
        a, b = divmod(vs, 250)
        out.write(f"virtual_server 10.{a}.{b}.1 80 {{\n"
                  "\tdelay_loop 10\n\tlb_algo wrr\n\tlb_kind NAT\n"
                  "\tprotocol TCP\n")
        for i in range(min(per_vs, total - n)):
            x = n + i
            addr = f"172.{16 + (x >> 16) % 16}.{(x >> 8) & 255}.{x & 255}"
            out.write(f"\treal_server {addr} 8080 {{\n\t\tweight {1 + x % 5}\n")
            if x % 10 == 0:
                out.write("\t\tHTTP_GET {\n\t\t\turl {\n\t\t\t\tpath /health\n"
                          "\t\t\t\tstatus_code 200\n\t\t\t}\n"
                          "\t\t\tconnect_timeout 3\n\t\t}\n")
            else:
                out.write("\t\tTCP_CHECK {\n\t\t\tconnect_timeout 3\n\t\t}\n")
            out.write("\t}\n")
        out.write("}\n\n")
        n += per_vs
        vs += 1


if __name__ == "__main__":
    main()
