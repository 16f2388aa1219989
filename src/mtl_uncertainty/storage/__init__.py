"""Files the suite writes and reads, shared by the runs and the report (no torch here).

- `atomic`: writes that a reader sees whole or not at all;
- `reading`: the one reader of files in a sweep folder (no links, regular files, size-capped);
- `result_schema`: result.json's name, version, the check that one is whole, and the numbers version it records;
- `floors_file`: floors.json's name, version, the check of its shape, and its reader;
- `labels`: how a number is written where people read it (job folder names, report rows).

May import: `faults`, `code_version` (what a result that records no code version is) and the standard library only.
"""
