"""The ``.py`` runner: CML's IPython-style execution (compat §1.2-§1.4), in a real runtime."""

from __future__ import annotations

import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

from lakeworks.workload import command_for
from runtimes.shared import project_env, python_of

Run = Callable[..., subprocess.CompletedProcess[str]]


def script(text: str) -> str:
    return textwrap.dedent(text).lstrip()


# Shell escapes -------------------------------------------------------------------------------


def test_shell_lines_run_in_bash_in_order_with_python_output(run_script: Run) -> None:
    result = run_script(
        script(
            """
            print("one")
            !echo two; echo "bash $BASH_VERSION" | cut -c1-4
            print("three")
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["one", "two", "bash", "three"]


def test_indented_shell_lines_and_failures_do_not_stop_the_script(run_script: Run) -> None:
    result = run_script(
        script(
            """
            for i in range(2):
                !echo loop {i}
            try:
                !exit 3
            finally:
                print("exit code", _exit_code)
            if True:
                !false
                !echo "still here" >&2
            print("done")
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["loop 0", "loop 1", "exit code 3", "done"]
    assert "still here" in result.stderr


def test_variables_and_expressions_expand_and_other_names_reach_the_shell(
    run_script: Run,
) -> None:
    result = run_script(
        script(
            """
            rows = 500
            name = "data set"
            !echo "$rows {rows * 2} {name.upper()} $GREETING $$GREETING {{braces}}"
            def inner():
                local = "from a function"
                !echo "$local"
            inner()
            """
        ),
        GREETING="hi",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "500 1000 DATA SET hi hi {braces}",
        "from a function",
    ]


def test_captured_shell_output_is_a_list_of_lines(run_script: Run) -> None:
    result = run_script(
        script(
            """
            files = !printf 'a.csv\\nb.csv\\n'; echo oops >&2
            print(list(files), files.n.count("\\n"))
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['a.csv', 'b.csv', 'oops'] 2"


def test_line_magics_env_cd_and_pip_work(run_script: Run, project: Path) -> None:
    (project / "data").mkdir()
    result = run_script(
        script(
            """
            import os
            %env STAGE=prod
            !echo "stage=$STAGE"
            %cd data
            print("cwd", os.path.basename(os.getcwd()))
            %pip --version
            """
        )
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "stage=prod" in lines
    assert "cwd data" in lines
    assert any(line.startswith("pip ") for line in lines), result.stdout


# Python semantics ----------------------------------------------------------------------------


def test_future_imports_are_accepted_after_other_statements(run_script: Run) -> None:
    result = run_script(
        script(
            '''
            """A docstring first."""
            import sys
            from __future__ import annotations, division
            def f(x: NotDefinedAnywhere) -> int:
                return 1
            print(f.__annotations__["x"], 3 / 2)
            '''
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "NotDefinedAnywhere 1.5"


def test_an_unknown_future_feature_fails_like_python(run_script: Run) -> None:
    result = run_script("x = 1\nfrom __future__ import braces\n")
    assert result.returncode == 1
    assert "SyntaxError: not a chance" in result.stderr


def test_main_name_file_and_argv(run_script: Run, project: Path) -> None:
    # As in CML's (IPython) runner, __file__ is not defined (issue 14 #7); argv[0] is the path.
    code = script(
        """
        import sys
        print(__name__)
        print("__file__" in globals(), hasattr(sys.modules["__main__"], "__file__"))
        print(sys.argv)
        """
    )
    result = run_script(code, "--rows 500 'two words' [70,80,90]", name="jobs/train.py")
    assert result.returncode == 0, result.stderr
    path = str(project / "jobs" / "train.py")
    assert result.stdout.splitlines() == [
        "__main__",
        "False False",
        str([path, "--rows", "500", "two words", "[70,80,90]"]),
    ]


FLASK_APP = """
import os
from flask import Flask, render_template

app = Flask(__name__)
print("ROOT", app.root_path)

@app.route("/")
def index():
    return render_template("index.html", who=os.environ.get("WHO", "nobody"))

print(app.test_client().get("/").get_data(as_text=True))
"""


def test_a_flask_app_in_a_sub_folder_finds_templates_in_the_project_root(
    run_script: Run, project: Path
) -> None:
    # CML's layout: the app script in a folder, templates/ at /home/cdsw (the cwd).
    (project / "templates").mkdir()
    (project / "templates" / "index.html").write_text("<h1>Hello {{ who }}</h1>\n")
    result = run_script(FLASK_APP, name="apps/web.py", WHO="cml")
    assert result.returncode == 0, result.stderr
    assert f"ROOT {project}" in result.stdout
    assert "<h1>Hello cml</h1>" in result.stdout


def test_empty_arguments_give_no_argv_and_the_string_none_gives_one(run_script: Run) -> None:
    code = "import sys\nprint(sys.argv[1:])\n"
    assert run_script(code, None).stdout.strip() == "[]"
    assert run_script(code, "").stdout.strip() == "[]"
    assert run_script(code, "None").stdout.strip() == "['None']"


def test_unsplittable_arguments_fail_before_the_script_runs(run_script: Run) -> None:
    result = run_script("print('ran')\n", "'unclosed")
    assert result.returncode == 2
    assert "cannot split arguments" in result.stderr
    assert "ran" not in result.stdout


def test_sub_folder_scripts_import_top_level_packages_even_after_chdir(
    run_script: Run, project: Path
) -> None:
    (project / "src").mkdir()
    (project / "src" / "__init__.py").write_text("")
    (project / "src" / "helpers.py").write_text("VALUE = 'top level'\n")
    (project / "scripts" / "data").mkdir(parents=True)
    (project / "scripts" / "data" / "local.py").write_text("WHERE = 'cwd'\n")
    result = run_script(
        script(
            """
            import os, sys
            print(repr(sys.path[0]), os.getcwd() in sys.path)
            os.chdir("scripts/data")
            from src.helpers import VALUE
            import local
            print(VALUE, local.WHERE)
            """
        ),
        name="scripts/run.py",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["'' True", "top level cwd"]


def test_display_helpers_never_raise(run_script: Run) -> None:
    result = run_script(
        script(
            """
            from IPython.display import display, HTML, Image, Javascript, Markdown
            display(HTML("<b>bold</b>"), Javascript("alert(1)"), Markdown("*x*"))
            display(Image(data=b"\\x89PNG\\r\\n\\x1a\\n", format="png"))
            display({"a": 1})
            print("after")
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert "{'a': 1}" in result.stdout
    assert result.stdout.splitlines()[-1] == "after"


def test_plain_python_starts_without_ipython_and_gets_the_shell_on_first_use(
    run_script: Run,
) -> None:
    """Job start latency (issue 17): importing IPython was most of a job's start, so a script
    in plain Python runs without it; ``get_ipython()`` and ``display()`` still give the
    script's own shell, which keeps the names the script defined before it came."""
    result = run_script(
        script(
            """
            import sys
            print("IPython" in sys.modules, __IPYTHON__)
            In = "mine"
            shell = get_ipython()
            print(type(shell).__name__, shell is get_ipython(), In)
            display({"b": 2})
            shell.system("echo from bash")
            print(_exit_code, sys.modules["__main__"].In)
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "False True",
        "RunnerShell True mine",
        "{'b': 2}",
        "from bash",
        "0 mine",
    ]


def test_a_final_expression_is_shown_unless_it_ends_with_a_semicolon(run_script: Run) -> None:
    assert run_script("x = 41\nx + 1\n").stdout.strip() == "42"
    assert run_script("x = 41\nx + 1;\n").stdout.strip() == ""
    assert run_script("None\n").stdout.strip() == ""


def test_classes_defined_in_the_script_pickle(run_script: Run) -> None:
    result = run_script(
        script(
            """
            import pickle
            class Model:
                def __init__(self):
                    self.weights = [1, 2]
            print(pickle.loads(pickle.dumps(Model())).weights)
            """
        )
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[1, 2]"


# Exit status ---------------------------------------------------------------------------------


def test_an_uncaught_exception_fails_with_the_traceback_on_stderr(run_script: Run) -> None:
    result = run_script(
        script(
            """
            print("before")
            def load():
                raise ValueError("no such table")
            load()
            print("after")
            """
        ),
        name="jobs/load.py",
    )
    assert result.returncode == 1
    assert result.stdout.strip() == "before"
    assert 'jobs/load.py", line 4, in <module>' in result.stderr
    assert 'line 3, in load\n    raise ValueError("no such table")' in result.stderr
    assert result.stderr.rstrip().endswith("ValueError: no such table")
    # The runner's own frames stay out of the user's traceback.
    assert "lakeworks_runner" not in result.stderr


def test_sys_exit_sets_the_status(run_script: Run) -> None:
    assert run_script("import sys\nsys.exit(0)\nprint('no')\n").returncode == 0
    failed = run_script("import sys\nprint('a')\nsys.exit(3)\n")
    assert (failed.returncode, failed.stdout.strip()) == (3, "a")
    message = run_script("import sys\nsys.exit('table missing')\n")
    assert (message.returncode, message.stderr.strip()) == (1, "table missing")


def test_exit_ends_the_script_as_in_python(run_script: Run) -> None:
    result = run_script("print('a')\nexit()\nprint('b')\n")
    assert (result.returncode, result.stdout.strip()) == (0, "a")
    assert run_script("quit(4)\n").returncode == 4


def test_a_syntax_error_fails_without_running_anything(run_script: Run) -> None:
    result = run_script("print('ran')\nprint('x'\n")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "SyntaxError" in result.stderr and "job.py" in result.stderr


def test_a_missing_script_fails_with_a_message(runtime: Path, project: Path) -> None:
    result = subprocess.run(
        command_for("nope.py", "", python_of(runtime)),
        cwd=project,
        env=project_env(runtime, project),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot read nope.py" in result.stderr


# Streaming -----------------------------------------------------------------------------------


def test_output_streams_while_the_script_runs(runtime: Path, project: Path) -> None:
    """A line printed (or echoed by a shell line) reaches the log before the script ends."""
    gate = project / "gate"
    (project / "wait.py").write_text(
        script(
            f"""
            import os, time
            print("python line")
            !echo shell line
            while not os.path.exists({str(gate)!r}):
                time.sleep(0.05)
            print("finished")
            """
        )
    )
    env = project_env(runtime, project)
    env.pop("PYTHONUNBUFFERED")  # the runner itself flushes line by line
    process = subprocess.Popen(
        command_for("wait.py", "", python_of(runtime)),
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "python line\n"
        assert process.stdout.readline() == "shell line\n"
        assert process.poll() is None
        gate.write_text("")
        assert process.stdout.readline() == "finished\n"
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def test_shell_scripts_run_with_their_arguments(runtime: Path, project: Path) -> None:
    (project / "setup.sh").write_text('echo "args: $1|$2|$#"; exit 5\n')
    result = subprocess.run(
        command_for("setup.sh", "one 'two words'", python_of(runtime)),
        cwd=project,
        env=project_env(runtime, project),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (5, "args: one|two words|2")
