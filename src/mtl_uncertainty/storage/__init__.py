"""Files the suite writes and reads, shared by the runs and the report (no torch here).

- `atomic`: writes that a reader sees whole or not at all;
- `result_schema`: result.json's name, version, and the check that one is whole.

May import: `faults` and the standard library only.
"""
