#!/usr/bin/env python3
"""Checks a Samtale journal export with tools that share no code with it.

Usage: check_export.py EXPORT_DIR SCHEMA

* journal.json validates against the JSON Schema (jsonschema, Draft 2020-12);
* journal.eml parses with Python's standard MIME parser, carries journal.pdf,
  journal.json and every message attachment, byte-identical to the files,
  and a text body naming the case;
* MANIFEST.sha256 matches every file (like `sha256sum -c`).

Prints one line per check; exits non-zero on the first failure.
"""

import email
import email.policy
import hashlib
import json
import pathlib
import sys

import jsonschema


def main() -> int:
    export, schema_path = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    document = json.loads((export / "journal.json").read_text(encoding="utf-8"))
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)
    print("schema: journal.json is valid")

    raw = (export / "journal.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.is_multipart(), "the EML is not multipart"
    assert document["case"]["reference"] in message["Subject"], message["Subject"]
    attachments = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    files = {p.name: p for p in (export / "attachments").glob("*")} if (export / "attachments").is_dir() else {}
    files["journal.json"] = export / "journal.json"
    files["journal.pdf"] = export / "journal.pdf"
    assert sorted(attachments) == sorted(files), (sorted(attachments), sorted(files))
    for name, content in attachments.items():
        content = content if isinstance(content, bytes) else content.encode("utf-8")
        assert content == files[name].read_bytes(), f"{name} in the EML differs from the file"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert document["case"]["reference"] in body, "the EML body does not name the case"
    print(f"eml: parsed; attachments {sorted(attachments)} match the files")

    for line in (export / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        actual = hashlib.sha256((export / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name}: manifest says {digest}, file is {actual}"
    print("manifest: every file matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
