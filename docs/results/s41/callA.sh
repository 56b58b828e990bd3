# Session 41, call A (Pending 14): session 40's next-call.sh (CSA's pooled choice against per-head,
# alternated twice, questions of their own, 32K and 128K) with one question too. Carry .device with
# fixtures/models/tinylm out of the tree.
BATCHES=1,4,16 bash docs/results/s40/next-call.sh
