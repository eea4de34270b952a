#!/usr/bin/env bash
# c2sp_verify_note.sh - independent verifier for an Ed25519-signed C2SP checkpoint.
# Written only from the specs, with no hcledger code: https://c2sp.org/signed-note
# and https://c2sp.org/tlog-checkpoint. Rules checked:
#  signed-note: the file ends in a newline and has no control bytes except newline;
#    the LAST empty line splits the note text (kept with its final newline)
#    from the signature lines. Each signature line is "— <name> <base64>"
#    (U+2014, space), the name is non-empty with no spaces and no '+', and
#    the base64 is standard and padded. It decodes to a 4-byte big-endian key ID
#    followed by the signature. Ed25519 key ID =
#    SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]. Lines from
#    other keys (different name or ID) are skipped. A line whose name and
#    key ID both match MUST verify (RFC 8032 over the note text).
#  tlog-checkpoint: the text is at least 3 non-empty lines: origin, tree size
#    (decimal, no leading zeros), root hash (base64 of 32 bytes), then
#    optional extension lines, which must be non-empty. The log's key name
#    SHOULD be the origin, so KEY_NAME defaults to line 1.
# Not checked: UTF-8 validity and a maximum number of signatures.
# Usage: c2sp_verify_note.sh NOTE_FILE PUBLIC_KEY_PEM [KEY_NAME]
# Exit 0 with "ok: ..."; exit 1 with "FAIL: ..."; exit 2 on usage errors.
set -u
export LC_ALL=C
[ $# -ge 2 ] && [ $# -le 3 ] && [ -r "$1" ] && [ -r "$2" ] || {
    echo "usage: $0 NOTE_FILE PUBLIC_KEY_PEM [KEY_NAME]" >&2; exit 2; }
note=$1 pem=$2
fail() { echo "FAIL: $*"; exit 1; }
T=$(mktemp -d) || exit 2
trap 'rm -rf "$T"' EXIT

# b64dec STRING OUTFILE: strict standard base64 (padded, canonical) -> bytes
b64dec() {
    [[ $1 =~ ^[A-Za-z0-9+/]*={0,2}$ ]] && (( ${#1} % 4 == 0 )) || return 1
    printf '%s' "$1" | base64 -d > "$2" 2>/dev/null || return 1
    [ "$(base64 -w0 < "$2")" = "$1" ]
}

# --- signed-note framing -------------------------------------------------
[ -s "$note" ] || fail "note is empty"
[ "$(tail -c 1 "$note" | od -An -tx1 | tr -d ' ')" = 0a ] || fail "note does not end in newline"
[ "$(tr -d '\n\040-\377' < "$note" | wc -c)" -eq 0 ] || fail "note contains control characters"
blank=$(grep -n '^$' "$note" | tail -n 1 | cut -d: -f1)
[ -n "$blank" ] || fail "no blank line separating text from signatures"
[ "$blank" -gt 1 ] || fail "note text is empty"
head -n $((blank - 1)) "$note" > "$T/text"      # exact bytes, final newline kept
tail -n +$((blank + 1)) "$note" > "$T/sigs"
[ -s "$T/sigs" ] || fail "no signature lines"

# --- checkpoint body -----------------------------------------------------
mapfile -t L < "$T/text"
[ ${#L[@]} -ge 3 ] || fail "checkpoint text has fewer than 3 lines"
for l in "${L[@]}"; do [ -n "$l" ] || fail "checkpoint text has an empty line"; done
origin=${L[0]} size=${L[1]}
[[ $size =~ ^(0|[1-9][0-9]*)$ ]] || fail "bad tree size: $size"
b64dec "${L[2]}" "$T/root" || fail "root hash is not canonical base64"
[ "$(wc -c < "$T/root")" -eq 32 ] || fail "root hash is not 32 bytes"
name=${3-$origin}

# --- public key and key ID -----------------------------------------------
openssl pkey -pubin -in "$pem" -outform DER > "$T/spki" 2>/dev/null || fail "cannot read public key"
[ "$(head -c 12 "$T/spki" | od -An -tx1 | tr -d ' \n')" = 302a300506032b6570032100 ] &&
    [ "$(wc -c < "$T/spki")" -eq 44 ] || fail "public key is not Ed25519"
{ printf '%s\n\001' "$name"; tail -c 32 "$T/spki"; } > "$T/idin"
keyid=$(sha256sum < "$T/idin" | head -c 8)

# --- signature lines -----------------------------------------------------
verified=0 n=0
while IFS= read -r line; do
    n=$((n + 1))
    [[ $line == "— "* ]] || fail "signature line $n does not start with em dash and space"
    rest=${line#"— "}; sname=${rest%% *}; sig=${rest#* }
    [[ $rest == *" "* && -n $sname && $sname != *+* && $sig != *" "* ]] ||
        fail "malformed signature line $n"
    b64dec "$sig" "$T/sig$n" || fail "signature line $n: bad base64"
    [ "$(wc -c < "$T/sig$n")" -ge 5 ] || fail "signature line $n: too short"
    [ "$sname" = "$name" ] || continue                       # unknown key name
    [ "$(head -c 4 "$T/sig$n" | od -An -tx1 | tr -d ' \n')" = "$keyid" ] || continue
    [ "$(wc -c < "$T/sig$n")" -eq 68 ] || fail "signature line $n: not a 64-byte Ed25519 signature"
    tail -c 64 "$T/sig$n" > "$T/ed$n"
    openssl pkeyutl -verify -pubin -inkey "$pem" -rawin -in "$T/text" \
        -sigfile "$T/ed$n" > /dev/null 2>&1 || fail "signature by $name (key ID $keyid) does not verify"
    verified=1
done < "$T/sigs"
[ $verified -eq 1 ] || fail "no signature line for key name '$name' with key ID $keyid"
echo "ok: $origin size $size signed by $name"
