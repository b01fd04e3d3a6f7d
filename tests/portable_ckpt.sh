#!/bin/sh
# portable_ckpt.sh WRITER RESUMER DIR: the test_portable_ckpt program WRITER
# saves its checkpoints into DIR, the one RESUMER (another architecture's
# build, maybe under qemu: a command and its arguments) loads them and
# continues; both must end with the same bits. `make cross-test` runs it
# from the host build to the cross build and back.
set -eu
rm -rf "$3"
mkdir -p "$3"
$1 . . write "$3"
$2 . . resume "$3"
