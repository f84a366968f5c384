"""test_layers_tool.py - scripts/layers.sh on small made-up trees: a cycle between folders
fails and is named with the include lines that make it; a layered tree passes in order."""
import contextlib
import os
import shutil
import subprocess
import tempfile

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "layers.sh")


@contextlib.contextmanager
def tree(files):
    root = tempfile.mkdtemp(prefix="layers-")
    try:
        for path, text in files.items():
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        yield root
    finally:
        shutil.rmtree(root)


def run(root, *args):
    p = subprocess.run(["bash", SCRIPT, *args, root], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_layers_two_folder_cycle_fails_and_names_it():
    with tree({
        "common/buf.h": "/* buf.h */\n#include <stddef.h>\n",
        "authz/verbs.h": "/* verbs.h */\n#include \"../common/buf.h\"\n",
        "authz/effective.h": "/* effective.h */\n#include \"verbs.h\"\n#include \"../clients/agents.h\"\n",
        "clients/agents.c": "/* agents.c */\n#include \"../authz/verbs.h\"\n#include \"agents.h\"\n",
        "clients/agents.h": "/* agents.h */\n#include \"../common/buf.h\"\n",
    }) as root:
        rc, out, err = run(root)
        assert rc == 1, (rc, out, err)
        assert ("cycle: authz -> clients -> authz (authz/effective.h:3 includes ../clients/agents.h; "
                "clients/agents.c:2 includes ../authz/verbs.h)") in out.splitlines(), out
        assert "layers: 1 cycle among authz clients" in out, out
        # the same-folder and common includes are not part of any cycle
        assert "common" not in out.split("include lines on these cycles:")[1], out


def test_layers_longer_cycle_through_a_subfolder_is_found():
    with tree({
        "keys/keys.h": "#include \"../store/db.h\"\n",
        "store/db.h": "#include <sqlite3.h>\n\n#include \"../token/sub/live.h\"\n",
        "token/sub/live.h": "#include \"../../keys/keys.h\"\n",
        "common/x.c": "int x;\n",
    }) as root:
        rc, out, err = run(root)
        assert rc == 1, (rc, out, err)
        assert ("cycle: keys -> store -> token -> keys (keys/keys.h:1 includes ../store/db.h; "
                "store/db.h:3 includes ../token/sub/live.h; token/sub/live.h:1 includes ../../keys/keys.h)"
                ) in out.splitlines(), out


def test_layers_acyclic_tree_passes_in_order():
    with tree({
        "common/buf.h": "#include <stdio.h>\n",
        "common/buf.c": "#include \"buf.h\"\n",
        "store/db.h": "#include \"../common/buf.h\"\n",
        "token/live.c": "#include \"live.h\"\n\n#include \"../store/db.h\"\n#include \"../common/buf.h\"\n",
        "token/live.h": "#include \"../common/buf.h\"\n",
        "extra/new.c": "#include \"../token/live.h\"\n",
        # tests, bench and docs are not layers: these includes would close a cycle otherwise
        "tests/unit/t.c": "#include \"../../token/live.h\"\n",
        "bench/b.h": "#include \"../token/live.h\"\n",
        "common/uses_bench.c": "#include \"../bench/b.h\"\n",
        "docs/notes.md": "#include \"../token/live.h\"\n",
        # a commented-out include is not an edge
        "store/old.c": "// #include \"../token/live.h\"\n",
    }) as root:
        rc, out, err = run(root)
        assert rc == 0, (rc, out, err)
        assert out.splitlines() == ["layers: common < store < token < extra"], out
        rc, out, err = run(root, "-v")
        assert rc == 0, (rc, out, err)
        assert "  2 token: common store" in out.splitlines(), out
