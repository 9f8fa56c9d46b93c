#!/usr/bin/env python3
"""Doxygen INPUT_FILTER: our headers document in plain // comments (STYLE: comments say why);
this turns them into Doxygen's forms on the fly, so the API reference is generated from the
comments as they are, with no second copy to keep in step:
  - the comment block right after `#pragma once` documents the file (\\file, on the pragma's
    line: Doxygen ignores the pragma);
  - a block of whole-line // comments documents the declaration that follows (///);
  - a trailing // comment after `;` or `,` documents that member or enumerator (///<), with
    the more-indented comment lines right below it;
  - `// ----` separators stay plain comments.
Everything else passes through unchanged, line for line (Doxygen's line numbers stay right)."""
import re
import sys

# Our comments are plain text, never Doxygen markup: outside `code spans`, the characters Doxygen
# would read as commands or HTML (<eos>, \p{L}, #queries, @, &, %, $) are escaped.
SPECIAL = re.compile(r"([\\<>#@&%$])")


def plain(text):
    parts = text.split("`")
    for k in range(0, len(parts), 2):  # even parts lie outside code spans
        parts[k] = SPECIAL.sub(r"\\\1", parts[k])
    return "`".join(parts)

WHOLE = re.compile(r"^(\s*)//(?!/)( ?)(.*)$")
TRAILING = re.compile(r"^(.*?[;,])(\s+)//(?!/) (.*)$")


def main(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    trailing_indent = None  # indent of the code line whose trailing comment may continue below
    for i, line in enumerate(lines):
        m = WHOLE.match(line)
        if line.strip() == "#pragma once":
            # Doxygen ignores the pragma; the line becomes the \\file marker of the block below.
            nxt = WHOLE.match(lines[i + 1]) if i + 1 < len(lines) else None
            out.append("/// \\file" if nxt else line)
            continue
        if m and trailing_indent is not None and len(m.group(1)) > trailing_indent:
            out.append(m.group(1) + "///< " + plain(m.group(3)))  # a trailing comment's next line
            continue
        trailing_indent = None
        if m and not m.group(3).startswith("---"):
            out.append(m.group(1) + "/// " + plain(m.group(3)))
            continue
        t = TRAILING.match(line)
        if t and '"' not in t.group(1):
            out.append(t.group(1) + t.group(2) + "///< " + plain(t.group(3)))
            trailing_indent = len(line) - len(line.lstrip())
            continue
        out.append(line)
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
