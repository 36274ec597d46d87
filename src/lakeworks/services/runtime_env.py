"""Turning a job's runtime identifier into an interpreter, environment and command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lakeworks.errors import InvalidInput
from lakeworks.services.platform import Platform


@dataclass(frozen=True)
class PreparedRuntime:
    directory: Path  # the runtime's virtual environment (read-only for workloads)
    python: str  # its interpreter, as the workload sees it
    base_env: dict[str, str]
    site_dir: Path  # Lakeworks' in-workload libraries (runner, cdsw, cml)
    ro_binds: list[Path] = field(default_factory=list)

    def env(self, project_home: str, project_pythonpath: str = "") -> dict[str, str]:
        """Variables that select this runtime; the project's own ``PYTHONPATH`` is folded in
        (after Lakeworks' libraries, before the project root) rather than replacing it."""
        from lakeworks.runtimes import builder

        return (
            builder.workload_env(
                self.directory, project_home, project_pythonpath=project_pythonpath
            )
            | self.base_env
        )

    def command(self, script: str, arguments: str) -> list[str]:
        from lakeworks.workload import UnsupportedScript, command_for

        try:
            return command_for(script, arguments, self.python)
        except UnsupportedScript as exc:
            raise InvalidInput(str(exc)) from exc


def prepare(platform: Platform, identifier: str) -> PreparedRuntime:
    """Resolve (and build once, if needed) the runtime for ``identifier``."""
    from lakeworks.runtimes import builder, catalog
    from lakeworks.workload import site_dir

    runtime = catalog.resolve(identifier or None)
    directory = builder.ensure_runtime(
        runtime.python_version, platform.settings.resolved_runtimes_dir
    )
    python = str(directory / "bin" / "python")
    base_prefix = Path(builder.base_prefix(directory))
    return PreparedRuntime(
        directory=directory,
        python=python,
        base_env={},
        site_dir=site_dir(),
        ro_binds=[site_dir(), base_prefix],
    )
