#!/usr/bin/env bash
# Keep a long-lived CARGO_TARGET_DIR from filling the disk: each change of a test or an
# example leaves its old executable behind (600 MB to 1 GB each here, with DataFusion,
# delta-rs and the SDK linked in), and incremental caches grow without bound. This removes
# every executable in target/*/deps and target/*/examples but the newest two of each name
# (a bin and a unit-test binary of one crate share a name), and the incremental caches;
# compiled libraries (.rlib) are kept, so nothing is recompiled.
set -euo pipefail
target="${CARGO_TARGET_DIR:-target}"
[ -d "$target" ] || exit 0
python3 - "$target" <<'PY'
import collections, os, re, shutil, sys
target = sys.argv[1]
freed = 0
for profile in ("debug", "release"):
    for sub in ("deps", "examples"):
        d = os.path.join(target, profile, sub)
        if not os.path.isdir(d):
            continue
        groups = collections.defaultdict(list)
        for f in os.listdir(d):
            p = os.path.join(d, f)
            m = re.fullmatch(r"(.+)-([0-9a-f]{16})", f)
            if m and os.path.isfile(p) and os.access(p, os.X_OK):
                groups[m.group(1)].append(p)
        for paths in groups.values():
            paths.sort(key=os.path.getmtime, reverse=True)
            for p in paths[2:]:
                freed += os.path.getsize(p)
                os.remove(p)
    inc = os.path.join(target, profile, "incremental")
    if os.path.isdir(inc):
        for e in os.listdir(inc):
            p = os.path.join(inc, e)
            freed += sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(p) for f in fs)
            shutil.rmtree(p, ignore_errors=True)
print(f"prune-target: freed {freed / 1e9:.1f} GB in {target}")
PY
