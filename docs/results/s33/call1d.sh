# Session 33, call 1d (inline, on call 1c's warm machine, the last ~60 s of device time): two more B = 1 runs at
# 128K of quads and keys, one of main, with --profile. (Its summary loop ran outside setup.sh's PATH and printed
# nothing; the jsonl lines in call1d/ came back and were read here.)
for x in quads keys main quads keys; do bash -c "source .device/setup.sh >/dev/null; timeout 40 node .ab/$x/bin/csattn.js bench --json --random-context --log-level warn --contexts 131072 --decode-tokens 64 --profile > \$OUT/r2-$x-\$RANDOM.jsonl 2>/dev/null"; done
