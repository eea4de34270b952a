#!/usr/bin/env python3
"""Seeds for fuzz_signature and fuzz_public_key from the Project Wycheproof
vectors in test/data/wycheproof: one test per distinct comment (edge cases
of DER, r and s, points, Ed25519 encodings), the key in turn raw, DER and
PEM.  Run by hand (bash test/fuzz/run.sh --seeds); the output is committed.

    python3 test/fuzz/wycheproof_seeds.py CORPUS_DIR
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
DATA = os.path.join(ROOT, "test", "data", "wycheproof")
PER_FILE = 24

FILES = [
    # file, mode byte of fuzz_signature (bit 0 P-256, bit 1 DER), raw key field
    ("ecdsa_secp256r1_sha256_test.json", 3, "uncompressed"),
    ("ecdsa_secp256r1_sha256_p1363_test.json", 1, "uncompressed"),
    ("ed25519_test.json", 0, "pk"),
]


def put(outdir, harness, name, data):
    d = os.path.join(outdir, "fuzz_" + harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    outdir = sys.argv[1]
    for fname, mode, rawfield in FILES:
        doc = json.load(open(os.path.join(DATA, fname)))
        seen = set()
        n = 0
        short = fname.split("_test")[0].replace("_sha256", "")
        for gi, group in enumerate(doc["testGroups"]):
            forms = [bytes.fromhex(group["publicKey"][rawfield]),
                     bytes.fromhex(group["publicKeyDer"]),
                     group["publicKeyPem"].encode()]
            if gi < 3:
                for form, key in zip(("raw", "der", "pem"), forms):
                    put(outdir, "public_key", "wycheproof-%s-g%d-%s" % (short, gi, form),
                        bytes([0 if mode & 1 else 1]) + key)
            for t in group["tests"]:
                if t["comment"] in seen or n >= PER_FILE:
                    continue
                seen.add(t["comment"])
                key = forms[n % 3]
                sig = bytes.fromhex(t["sig"])
                if len(sig) > 255 or len(key) > 2047:
                    continue
                data = (bytes([mode]) + len(key).to_bytes(2, "big") + key +
                        bytes([len(sig)]) + sig + bytes.fromhex(t["msg"]))
                put(outdir, "signature", "wycheproof-%s-%d-%s" % (short, t["tcId"], t["result"]), data)
                n += 1
    print("wycheproof_seeds: done")


if __name__ == "__main__":
    main()
