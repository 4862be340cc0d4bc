import mt


def test_public_api_is_explicit_and_sorted() -> None:
    exported = mt.__all__
    assert exported == sorted(exported, key=lambda name: (not name.isupper(), name))
    for name in exported:
        assert hasattr(mt, name), name
    public = {n for n in dir(mt) if not n.startswith("_") and n not in {"annotations"}}
    modules = {n for n in public if type(getattr(mt, n)).__name__ == "module"}
    assert public - modules == set(exported)


def test_translating_never_imports_torch() -> None:
    import subprocess
    import sys

    code = "import sys, mt, mt.cli; mt.Kakehashi; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
