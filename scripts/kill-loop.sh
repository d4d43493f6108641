#!/usr/bin/env bash
# The heavy count of the real-kill suite: 1,000 SIGKILLs of `graphvault save`
# at random moments, each followed by a reopen that must give exactly the old
# or the new graph. About two minutes on two cores (debug build); the
# `cargo test` run does 50 of them.
#
#   scripts/kill-loop.sh            # 1,000 kills
#   scripts/kill-loop.sh 5000       # any other count
set -euo pipefail
cd "$(dirname "$0")/.."
kills="${1:-1000}"
if [ "$kills" = 1000 ]; then
    exec cargo test --locked --test reliability sigkill_a_thousand_times -- --ignored --nocapture
fi
GV_KILLS="$kills" exec cargo test --locked --test reliability \
    kill::sigkill_at_random_moments_of_a_real_save_loses_nothing -- --exact --nocapture
