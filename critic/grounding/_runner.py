"""The script that runs test cases inside the sandbox (its text is shipped as main.py).

It loads ``solution.py``, runs each case of ``cases.json`` with a per-case
alarm, and appends one JSON line per case to ``results.jsonl`` as it goes, so a
crash or a timeout midway still leaves the finished cases' results.
"""

RUNNER = r'''
import contextlib, doctest, io, json, signal, sys, traceback

cfg = json.load(open("cases.json"))
out = open("results.jsonl", "w")
per_case = int(cfg["per_case"])


def emit(**record):
    out.write(json.dumps(record) + "\n")
    out.flush()


def short(value):
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "..."


def last_error():
    kind, exc, _ = sys.exc_info()
    return "%s: %s" % (kind.__name__, exc) if str(exc) else kind.__name__


def load_error():
    # Only the solution's frames: the runner's own are noise to a model.
    kind, exc, tb = sys.exc_info()
    frames = [f for f in traceback.extract_tb(tb) if f.filename == "solution.py"]
    lines = traceback.format_list(frames) + traceback.format_exception_only(kind, exc)
    return "".join(lines)


def on_alarm(*_):
    raise TimeoutError("took longer than %d s" % per_case)


signal.signal(signal.SIGALRM, on_alarm)
ns = {"__name__": "__main__"}
try:
    signal.alarm(per_case)
    exec(compile(open("solution.py").read(), "solution.py", "exec"), ns)
    signal.alarm(0)
except BaseException:
    signal.alarm(0)
    emit(load=load_error())
    sys.exit(0)
if cfg.get("entry_point"):
    if not callable(ns.get(cfg["entry_point"])):
        emit(load="the code defines no function named %r" % cfg["entry_point"])
        sys.exit(0)
    ns[cfg["arg"]] = ns[cfg["entry_point"]]
for i, source in enumerate(cfg["setup"]):
    try:
        exec(compile(source, "tests", "exec"), ns)
    except BaseException:
        emit(load="the tests' setup failed: " + last_error())
        sys.exit(0)
checker = doctest.OutputChecker()
flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
for i, case in enumerate(cfg["cases"]):
    result = {"i": i, "passed": False, "expected": None, "actual": None, "error": None}
    signal.alarm(per_case)
    try:
        if case["kind"] == "doctest":
            result["expected"] = case["want"].rstrip("\n")
            buffer = io.StringIO()
            try:
                with contextlib.redirect_stdout(buffer):
                    exec(compile(case["source"], "<example>", "single"), ns)
                got = buffer.getvalue()
            except Exception:
                got = buffer.getvalue() + "Traceback (most recent call last):\n" + last_error() + "\n"
            result["actual"] = got.rstrip("\n")
            want = case["want"]
            if want.startswith("Traceback") and got.startswith("Traceback"):
                result["passed"] = want.strip().splitlines()[-1] == got.strip().splitlines()[-1]
            else:
                result["passed"] = checker.check_output(want, got, flags)
        elif case.get("left") is not None:
            actual = eval(compile(case["left"], "tests", "eval"), ns)
            expected = eval(compile(case["right"], "tests", "eval"), ns)
            result["actual"], result["expected"] = short(actual), short(expected)
            result["passed"] = bool(actual == expected)
        else:
            exec(compile(case["source"], "tests", "exec"), ns)
            result["passed"] = True
    except AssertionError as exc:
        result["error"] = "assertion failed" + (": %s" % exc if str(exc) else "")
    except BaseException:
        result["error"] = last_error()
    finally:
        signal.alarm(0)
    emit(**result)
'''
