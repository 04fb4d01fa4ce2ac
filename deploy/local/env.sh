#!/usr/bin/env bash
# Print the connection settings of the local services as `export` lines
# (what up.sh prints at the end), without starting anything:
#   eval "$(deploy/local/env.sh)"
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
print_env
