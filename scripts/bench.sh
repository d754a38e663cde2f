#!/usr/bin/env bash
echo "bench.sh: not written yet (issue 3)" >&2
exit 1
