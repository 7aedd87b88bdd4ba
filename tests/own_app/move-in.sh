#!/bin/sh
# Move your own Flask app into a copy of stage 04, as the page "Use a stage for your own app"
# says; here the app is notes.py with its static folder assets/ (tests/test_own_app.py runs it).
#   move-in.sh STAGE_COPY
set -eu
app=$(cd "$(dirname "$0")" && pwd)
cd "$1"

# 1. The stage's own app goes: its package, entry point, migrations, and the tests of them.
rm -rf app wsgi.py migrations tests

# 2. Yours comes in: the module with `app`, and its static files.
cp "$app/notes.py" .
cp -r "$app/assets" .

# 3. The stage's files learn where your app is: the entry point, the static folder, and no
#    visit mover (a command of the workbook's app).
patch -p1 --quiet < "$app/stage-04.patch"
