"""Groups `perf report --no-children --sort dso,sym --stdio -g none` output (stdin) into the
costs the benchmark report discusses: DTLS/crypto, SCTP, the rest of the WebRTC stack, file
reads, memory copies, allocation, UDP/kernel networking, async runtime, and the rest.
Prints a Markdown table of shares of the samples, then the top symbols."""
import re
import sys

GROUPS = [
    ("DTLS / crypto (AES-GCM, GHASH, SHA, record layer)", r"aes|gcm|ghash|polyval|dimpl|sha2|sha256|hmac|ctr32|cipher|crypto|rand_chacha|ring_core|gfmul|clmul|aws_lc"),
    ("SCTP (chunking, SACKs, queues, CRC32c)", r"sctp|crc32|crc::"),
    ("HashMap hashing (SipHash; no call graph, but SCTP's queues are the big map users)", r"hash_one|defaulthasher|siphash|hashbrown"),
    ("rest of the WebRTC stack (ICE, STUN, str0m/rtc driver)", r"str0m|stun|::ice|rtc::|webrtc"),
    ("memory copies / memset", r"memcpy|memmove|memset|copy_user|rep_mov|copy_to_user|copy_from_user|__memcpy"),
    ("file reads (read syscall, page cache, fs)", r"filemap|ext4|xfs|btrfs|page_cache|vfs_read|ksys_read|generic_file|pread|readahead|do_sys_read|blake3"),
    ("allocation", r"malloc|free|realloc|calloc|_int_|alloc::|jemalloc|mi_|__rust_alloc|__rust_dealloc|mmap|munmap|page_fault|clear_page"),
    ("UDP / kernel networking", r"udp|ip_|ipv4|ip6|sock|skb|net_|netif|dev_queue|veth|sendto|sendmsg|recvmsg|recvfrom|loopback|nf_|tcp_"),
    ("async runtime / scheduling / syscalls", r"tokio|futex|schedule|epoll|syscall|entry_SYSCALL|do_syscall|__x64_sys|mio::|parking|wake|switch_to|finish_task"),
]

rows = []
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)$", line)
    if m:
        rows.append((float(m.group(1)), m.group(2), m.group(3).strip()))
if not rows:
    print("*(no samples: perf was unavailable or recorded nothing)*")
    sys.exit(0)
totals = {name: 0.0 for name, _ in GROUPS}
other = 0.0
for pct, dso, sym in rows:
    text = f"{dso} {sym}".lower()
    for name, pat in GROUPS:
        if re.search(pat, text):
            totals[name] += pct
            break
    else:
        other += pct
print("| where the daemon's CPU time goes | share of samples |\n|---|---|")
for name, _ in GROUPS:
    print(f"| {name} | {totals[name]:.1f} % |")
print(f"| other | {other:.1f} % |\n")
print("Top symbols:\n\n| share | object | symbol |\n|---|---|---|")
for pct, dso, sym in sorted(rows, reverse=True)[:12]:
    sym = sym.replace("|", "\\|")
    if len(sym) > 90:
        sym = sym[:87] + "..."
    print(f"| {pct:.1f} % | {dso} | `{sym}` |")
