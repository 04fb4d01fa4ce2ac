# phases.py DIR...: per-phase means of the writer's metrics from sampler.sh's snapshots
# (DIR/NNN.txt). "whole phase": from the last snapshot of the previous phase to the last
# of this one (the first groups-at-1000 phase also holds the setup and the warm-up, which
# bench.sh logs under the same name). "last 20 s": the last ~20 s of the phase only.
import glob, sys, collections
def parse(p):
    lines = open(p).read().splitlines()
    hdr = lines[0]; m = {}
    for l in lines[1:]:
        k, v = l.rsplit(' ', 1); m[k] = float(v)
    h, mnt, s = map(int, hdr.split()[1].split(':'))
    return hdr, h * 3600 + mnt * 60 + s, m
def stats(a, b):
    def dl(k): return b.get(k, 0) - a.get(k, 0)
    nb = dl('writer_batch_commands_count')
    if nb == 0: return None
    ap = []
    for s in ('shard0', 'shard1'):
        n = dl(f'store_shard_apply_seconds_count{{shard="{s}"}}')
        ap.append(dl(f'store_shard_apply_seconds_sum{{shard="{s}"}}') / n * 1000 if n else float('nan'))
    return (nb, dl('writer_batch_commands_sum') / nb, dl('writer_batch_seconds_sum') / nb * 1000,
            ap[0], ap[1], dl('writer_retries_total'))
def fmt(st):
    nb, cmds, bs, a0, a1, rt = st
    return f"batches {nb:5.0f}  cmds/batch {cmds:6.1f}  batch {bs:6.1f} ms  apply shard0 {a0:6.1f} / shard1 {a1:6.1f} ms  retries {rt:.0f}"
for d in sys.argv[1:]:
    snaps = [parse(p) for p in sorted(glob.glob(d + '/*.txt'))]
    byphase = collections.OrderedDict()
    for h, t, m in snaps:
        byphase.setdefault(h.split('==> ')[1], []).append((t, m))
    print(d)
    prev_last = None
    for ph, ss in byphase.items():
        a = prev_last or ss[0]; b = ss[-1]
        cand = [x for x in ([prev_last] if prev_last else []) + ss if x[0] <= b[0] - 20]
        tail = cand[-1] if cand else a
        prev_last = b
        whole = stats(a[1], b[1])
        if whole is None: continue
        last = stats(tail[1], b[1])
        print(f"  {ph}\n    whole phase: {fmt(whole)}")
        if last: print(f"    last {b[0] - tail[0]:2d} s:   {fmt(last)}")
