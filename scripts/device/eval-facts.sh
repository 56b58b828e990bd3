#!/usr/bin/env bash
# On the GPU machine (see scripts/device/README.md): the accuracy tables of the README.
# 1) a sweep of CSA settings on 20 fact-retrieval records, 2) every method at 0.95 on the
# 60 fact records and the 5 multi_news rows. Reports land in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
run() { node bin/csattn.js eval "$@" --cache-dir /tmp/cache --log-level warn; }
facts=(fixtures/facts.jsonl --templates fixtures/facts.templates.json)
if [[ ${1:-all} == sweep || ${1:-all} == all ]]; then
  while read -r name flags; do
    echo "== sweep $name: $flags"
    run "${facts[@]}" --limit 20 --methods csa,keypq --no-recall $flags --out "$OUT/sweep-$name.json" | grep -E '^all'
  done <<'LIST'
default
qnone --score-scale none
qhead --granularity query-head
pre --rope pre
c16 --centroids 16
c256 --centroids 256
a03 --list-fraction 0.3
m4 --subspaces 4
m16 --subspaces 16
LIST
fi
if [[ ${1:-all} == final || ${1:-all} == all ]]; then
  run "${facts[@]}" --methods csa,oracle,streaming,quest,keypq --out "$OUT/facts.json" --html "$OUT/facts.html" ${CSA_FLAGS:-}
  run fixtures/longbench/multi_news.sample.jsonl --methods csa,oracle,streaming,quest,keypq --out "$OUT/multi_news.json" ${CSA_FLAGS:-}
fi
