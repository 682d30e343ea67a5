#!/bin/bash
# Warm `run` of one bundle, two runa builds and runc alternated sample by sample (BENCHMARKS.md):
#   bench/scripts/ab-run.sh N BUNDLE RUNA_A RUNA_B [STATE_DIR]
# RUNA_A, RUNA_B: two front ends (native/runa of two checkouts); STATE_DIR (a tmpfs is best)
# holds the three state roots. Prints each one's median and first quartile, in ms.
set -euo pipefail
N=$1; BUNDLE=$2; A=$3; B=$4; DIR=${5:-$(mktemp -d)}
$A --root "$DIR/ra" run -b "$BUNDLE" warm >/dev/null; $B --root "$DIR/rb" run -b "$BUNDLE" warm >/dev/null
ms() { local s e; s=$(date +%s%N); "$@"; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }
for i in $(seq 1 "$N"); do
  echo "A $(ms "$A" --root "$DIR/ra" run -b "$BUNDLE" "a$i")"
  echo "B $(ms "$B" --root "$DIR/rb" run -b "$BUNDLE" "b$i")"
  echo "runc $(ms runc --root "$DIR/rc" run -b "$BUNDLE" "c$i")"
done | python3 -c '
import sys, statistics as st
d = {}
for line in sys.stdin:
    k, v = line.split(); d.setdefault(k, []).append(int(v) / 1000)
for k in sorted(d):
    print(k, "median %.1f ms, p25 %.1f ms (%d samples)" % (st.median(d[k]), sorted(d[k])[len(d[k]) // 4], len(d[k])))'
