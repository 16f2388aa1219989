#!/usr/bin/env bash
# Mutation testing of the modules whose numbers matter (the list is [tool.mutmut] in pyproject.toml),
# against the fast tests. Too slow for CI on 2 cores; run it before resolving an issue that touches
# those modules, and record its score in the README's development section.
#   bash bench/mutation.sh                 # everything listed
#   bash bench/mutation.sh 'mtl_uncertainty.weighting.*'   # the mutants of some functions only
set -euo pipefail
cd "$(dirname "$0")/.."
export MNIST_ROOT="${MNIST_ROOT:-$(cd .. && pwd)/shared/data}"
mutmut run --max-children "${MUTMUT_CHILDREN:-2}" "$@" || true
mutmut results --all true > mutants/results.txt || true
killed=$(grep -c ": killed" mutants/results.txt || true)
survived=$(grep -c ": survived" mutants/results.txt || true)
other=$(grep -vc -e ": killed" -e ": survived" mutants/results.txt || true)
total=$((killed + survived + other))
echo "mutants: ${total}; killed ${killed}; survived ${survived}; other (timeout, no tests, suspicious, ...) ${other}"
[ "$total" -gt 0 ] && echo "score: $((100 * killed / total))% killed" || true
echo "survivors: mutmut results; one of them: mutmut show <name>"
