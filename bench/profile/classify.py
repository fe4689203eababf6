"""Attributes perf samples (perf script -F comm,tid,ip,sym) of the node to what runs and to the node module above it."""
import re, sys, collections

LEAF = [
    (r'^rocksdb|LZ4|rocksdb::|crc32c', 'RocksDB'),
    (r'sha2::', 'SHA-256'),
    (r'base64::', 'base64'),
    (r'serde_json::|serde_core::|serde::', 'JSON (serde_json)'),
    (r'prost::|heliograph_proto::', 'protobuf (prost)'),
    (r'libp2p_gossipsub|libp2p', 'libp2p / gossipsub'),
    (r'tungstenite|axum::extract::ws|WebSocket', 'WebSocket framing'),
    (r'tracing', 'tracing spans'),
    (r'tokio::|mio::|futures_util|futures_core', 'tokio / futures'),
    (r'hashbrown|BTreeMap|btree', 'maps (hash/btree)'),
    (r'fmt::|format_inner|write_str', 'string formatting'),
    (r'^heliograph_node', 'node logic'),
]
ALLOC = re.compile(r'malloc|free|realloc|_int_|unlink_chunk|alloc::raw_vec|__rust_alloc|__rust_dealloc|cfree|memmove|memcpy|memcmp|memset')
KNET = re.compile(r'tcp|skb|ip_|inet|sock|net|sendto|recvfrom|loopback|bbr|_copy_|iter|xmit|dev_|sk_')
KSCHED = re.compile(r'schedule|task_switch|futex|spin|wake|irq|softirq|hrtimer|rcu|ttwu|enqueue|dequeue|idle|tick|epoll|poll')

def leaf_cat(frames):
    syms = [s for _, s in frames]
    if not syms:
        return 'unknown'
    if frames[0][0].startswith('ffffffff'):
        k = syms[0]
        if KNET.search(k): return 'kernel: network I/O'
        if KSCHED.search(k): return 'kernel: scheduling, futex, epoll'
        return 'kernel: other'
    skipped_alloc = False
    for s in syms:
        if ALLOC.search(s) and not s.startswith('heliograph'):
            skipped_alloc = True
            continue
        for pat, cat in LEAF:
            if re.search(pat, s):
                return cat + (' (alloc/copy)' if skipped_alloc else '')
    return 'allocator / memcpy (unattributed)' if skipped_alloc else 'other'

def stage(frames, comm):
    for _, s in frames:
        if s.startswith('heliograph_node::') or s.startswith('<heliograph_node::'):
            s = s.lstrip('<')
            parts = re.split(r'::', s)
            return '::'.join(parts[1:3])
    for _, s in frames:
        if 'rocksdb' in s: return '(rocksdb threads: ' + comm + ')'
        if 'libp2p' in s: return '(libp2p, no node frame)'
    return '(runtime / kernel, no node frame: ' + comm + ')'

samples = []
cur = None
for line in open(sys.argv[1], errors='replace'):
    if not line.strip():
        if cur: samples.append(cur)
        cur = None
        continue
    if not line.startswith('\t') and not line.startswith(' '):
        comm = line.split()[0]
        cur = (comm, [])
        continue
    parts = line.strip().split(None, 1)
    if cur is not None and len(parts) == 2:
        cur[1].append((parts[0], parts[1]))
if cur: samples.append(cur)

n = len(samples)
us_per_msg = float(sys.argv[2]) if len(sys.argv) > 2 else None
leafs = collections.Counter(leaf_cat(f) for _, f in samples)
stages = collections.Counter(stage(f, c) for c, f in samples)
threads = collections.Counter(c for c, _ in samples)
def table(title, counter, top=18):
    print(f'\n| {title} | share | µs per message |\n|---|---:|---:|')
    for k, v in counter.most_common(top):
        per = f'{us_per_msg * v / n:.1f}' if us_per_msg else ''
        print(f'| {k} | {100*v/n:.1f} % | {per} |')
print(f'samples: {n}')
table('what runs (innermost non-allocator frame)', leafs)
table('node module above it (innermost heliograph_node frame)', stages, 20)
table('thread', threads, 8)
