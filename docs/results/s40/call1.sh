# The next device call (Pending 11): batched CSA with a question of its own for every sequence
# (session 39's bench fix), unions against none, to place unionPays again; ~5 minutes on a warm
# machine. Before it, on this machine:
#   npm run build && bash scripts/device/ab-build.sh head
#   sed -i 's/^export const UNION_MIN_KEYS = 1 << 20;/export const UNION_MIN_KEYS = 2 ** 30;/' src/ops/union.ts
#   npm run build && bash scripts/device/ab-build.sh nounion && git checkout src/ops/union.ts && npm run build
#   fixtures/models/tinylm out of the tree (the carry limit); carry .device (pack.sh) and .ab
# `bash docs/results/s39/next-call.sh short` times 128K only (~2 minutes).
source .device/setup.sh >/dev/null
LOG=$OUT/call.log; source scripts/device/lib.sh
step "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
contexts=32768,65536,98304,131072
[[ ${1:-} == short ]] && contexts=131072
for r in 1 2; do
  for b in head nounion; do
    T=200 ab_bench $b $b-$r --random-context --contexts $contexts --batch 4,8,16 --decode-tokens 16 --profile
  done
done
step done
