# Session 35: call1.sh on whichever GPU comes (the suite's first part, planned for an H200, no longer fits the
# session's device budget after the failed starts). Carry .device, .ab.
bash docs/results/s35/call1.sh
