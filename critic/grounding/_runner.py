"""The script that runs test cases inside the sandbox (its text is shipped as main.py).

It loads ``solution.py``, runs each case of ``cases.json`` with a per-case
alarm, and appends one JSON line per case to ``results.jsonl`` as it goes, so a
crash or a timeout midway still leaves the finished cases' results.

A doctest passes when its output matches the expected text (doctest's rules),
or when it printed nothing, returned a value and that value equals the
expected text read as a Python literal: ``'21'`` matches ``"21"``. An example
(a call and a literal) compares values; a bool only equals a bool, so
``True`` is not passed by ``1``. Values kept in the results are cut at
``SHOWN`` characters, saying so, so that one huge output cannot crowd out the
other results.
"""

RUNNER = r'''
import ast, contextlib, doctest, io, json, signal, sys, traceback

cfg = json.load(open("cases.json"))
out = open("results.jsonl", "w")
per_case = int(cfg["per_case"])


def emit(**record):
    out.write(json.dumps(record) + "\n")
    out.flush()


SHOWN = 300
MISSING = object()


def cut(text):
    if len(text) <= SHOWN:
        return text
    return text[:SHOWN] + "\u2026 [cut: {:,} characters in all]".format(len(text))


def show(value):
    try:
        return repr(value)
    except Exception:  # e.g. an int too long for str()
        return "<%s that cannot be shown: %s>" % (type(value).__name__, last_error())


def literal(text):
    try:
        return ast.literal_eval(text.strip())
    except Exception:
        return MISSING


def same(actual, expected):
    if isinstance(actual, bool) or isinstance(expected, bool):
        if type(actual) is not type(expected):
            return False
    try:
        return bool(actual == expected)
    except Exception:
        return False


def evaluate(source):
    """Run an example as doctest does: (value or None, what it printed)."""
    buffer = io.StringIO()
    try:
        code, is_expression = compile(source, "<example>", "eval"), True
    except SyntaxError:
        code, is_expression = compile(source, "<example>", "exec"), False
    with contextlib.redirect_stdout(buffer):
        value = eval(code, ns) if is_expression else exec(code, ns)
    return value, buffer.getvalue()


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
    if not case.get("checked", True):
        # A step: run for its effects (`>>> x = 1`); what it shows is not checked.
        signal.alarm(per_case)
        try:
            evaluate(case["source"])
        except BaseException:
            pass
        finally:
            signal.alarm(0)
        continue
    result = {"i": i, "passed": False, "expected": None, "actual": None, "error": None}
    signal.alarm(per_case)
    try:
        if case["kind"] == "doctest":
            want = case["want"]
            result["expected"] = cut(want.rstrip("\n"))
            value, printed, raised = None, "", False
            try:
                value, printed = evaluate(case["source"])
                got = printed + (show(value) + "\n" if value is not None else "")
            except Exception:
                raised = True
                got = "Traceback (most recent call last):\n" + last_error() + "\n"
            result["actual"] = cut(got.rstrip("\n"))
            if want.startswith("Traceback") and got.startswith("Traceback"):
                result["passed"] = want.strip().splitlines()[-1] == got.strip().splitlines()[-1]
            else:
                result["passed"] = checker.check_output(want, got, flags)
            if not result["passed"] and not raised and not printed and value is not None:
                expected = literal(want)
                result["passed"] = expected is not MISSING and same(value, expected)
        elif case["kind"] == "example":
            expected = ast.literal_eval(case["want"])
            result["expected"] = cut(show(expected))
            with contextlib.redirect_stdout(io.StringIO()):
                actual = eval(compile(case["source"], "<example>", "eval"), ns)
            result["actual"] = cut(show(actual))
            result["passed"] = same(actual, expected)
        elif case.get("left") is not None:
            actual = eval(compile(case["left"], "tests", "eval"), ns)
            expected = eval(compile(case["right"], "tests", "eval"), ns)
            result["actual"], result["expected"] = cut(show(actual)), cut(show(expected))
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
