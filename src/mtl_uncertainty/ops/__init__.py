"""The Hydra glue: what runs around the jobs of a sweep, whatever launcher runs them.

- `preflight`: every job checked (config, device, data, folder) before anything is written;
- `jobs`: a sweep's job as the task function sees it (a failure is recorded, never raised);
- `sweep`: how a sweep ended, each run counted once, and the exit status;
- `callbacks`: the preflight, the report and the summary at every sweep's start and end;
- `library_logs`: the libraries' logging kept to warnings, without colour codes;
- `unfinished`: the unfinished sweep the same command started again resumes (its `.unfinished` mark);
- `sweep_record`: each command's multirun.yaml kept when the next command on the same folder overwrites it;
- `naming`: job folder names from a job's overrides (the `${job_dirname:...}` resolver);
- `overrides`: a command-line key given without its group (`epochs=1`), named with the keys it may mean.

The top layer: may import everything below it (`run`, `runs`, `analysis`, `config`, `data`, ...);
nothing in the package imports it.
"""

from .naming import register_resolvers

register_resolvers()  # conf/config.yaml names job folders with ${job_dirname:...}
