# Sourced by scripts/test.sh and the bootstrap scripts: reads matrix.txt.
#   matrix_legs             every leg's name, in order
#   matrix_field LEG COLUMN  bpy | python | where | tests of LEG (exit 1 if no such leg)
#   matrix_line LEG          LEG's whole line (what a venv's stamp hashes)
MATRIX_FILE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/matrix.txt"

matrix_legs() {
    awk '!/^[[:space:]]*(#|$)/{print $1}' "$MATRIX_FILE"
}

matrix_line() {
    awk -v leg="$1" '!/^[[:space:]]*(#|$)/ && $1==leg {$1=$1; print; found=1} END{exit !found}' "$MATRIX_FILE"
}

matrix_field() {
    local col
    case "$2" in bpy) col=2 ;; python) col=3 ;; where) col=4 ;; tests) col=5 ;;
        *) echo "matrix_field: no column $2" >&2; return 2 ;; esac
    awk -v leg="$1" -v col="$col" '!/^[[:space:]]*(#|$)/ && $1==leg {print $col; found=1} END{exit !found}' \
        "$MATRIX_FILE"
}
