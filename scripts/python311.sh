# Sourced by the bootstrap scripts: sets PY to a Python 3.11 (the PyPI bpy
# modules are built for it), or says what to install and exits 2.
PY=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    PY=$(command -v "$candidate"); break
  fi
done
if [ -z "$PY" ]; then
  echo "error: Python 3.11 is needed (the PyPI bpy modules are built for it); install python3.11 and run again." >&2
  exit 2
fi
