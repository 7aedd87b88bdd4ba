#!/bin/sh
# Create the stack's secrets once: random values in files under secrets/, which git and
# .dockerignore both ignore. Compose mounts them at /run/secrets/<name> in the services that
# ask for them. An existing secret is never overwritten.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
for name in db_password secret_key; do
    file="secrets/$name.txt"
    if [ ! -s "$file" ]; then
        # 32 random bytes, hex: letters and digits only, so the password is safe inside a URL.
        od -An -N32 -tx1 /dev/urandom | tr -d ' \n' > "$file"
        echo "created $file"
    fi
    # Readable by the containers' unprivileged users; the directory itself stays private.
    chmod 0644 "$file"
done
